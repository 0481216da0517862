"""Alerting: what a notice is, the channels that deliver it, and (being built) rules and outbox.

* ``alerts.message`` — :class:`AlertMessage` / :class:`AlertDoc`, what every channel receives;
* ``alerts.channels`` — log, e-mail, DingTalk, WeCom, Feishu and webhook, one module each,
  plus ``register_channels`` for plugins; ``alerts.channels_config`` reads
  ``config/channels.toml``; ``alerts.secrets`` resolves ``${NAME}`` secrets;
* ``alerts.format`` — the Chinese templates; ``alerts.pacing`` — per-robot rate limits;
* rules (``alerts.rules``) and the durable outbox (``alerts.outbox``) are issue 7's next parts.
See docs/channels.md.
"""
