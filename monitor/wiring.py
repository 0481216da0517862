"""The parts ``monitor run`` builds from the configuration: its channels (with quiet hours)
and its rule engine (rules, org routing, the working-day calendar)."""
from __future__ import annotations

import logging

from monitor.config import MonitorConfig

log = logging.getLogger("monitor.service")


class UnusableChannel:
    """A channel named in channels.toml that could not be set up (a secret not set, a bad
    key): its deliveries become dead letters that say why, visible in ``monitor alerts
    outbox`` and re-sendable once it is fixed and the service restarted."""

    type = "unusable"
    timeout = 1.0
    limits = ()

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason

    def send(self, message):
        """Never delivers: the reason it cannot."""
        from alerts.channels import DeliveryResult

        return DeliveryResult.failed(self.reason, retryable=False)

    def describe(self) -> dict:
        """What is shown about it."""
        return {"name": self.name, "type": self.type, "reason": self.reason}


def service_channels(config: MonitorConfig) -> tuple[dict, dict]:
    """The channel instances of ``channels.toml`` by name, and their quiet hours.

    A channel the file names but that cannot be set up (a secret not set, a bad key) is an
    :class:`UnusableChannel`, so that its deliveries say why; ``log`` is always there (the
    service's own log).  A file that cannot be read at all is a ConfigError."""
    from alerts.channels.log import LogChannel
    from alerts.channels_config import load_channels
    from alerts.outbox import QuietHours

    found = load_channels(config.config_dir)
    channels = dict(found.channels)
    for name in found.names():
        if name in channels or name in found.disabled:
            continue
        try:
            found.get(name)
        except Exception as exc:  # noqa: BLE001 - the reason is what matters
            log.error("%s", exc)
            channels[name] = UnusableChannel(name, str(exc))
    channels.setdefault("log", LogChannel("log", {}))
    quiet = {name: QuietHours.parse(table["quiet_hours"], config.timezone)
             for name, table in found.tables.items()
             if isinstance(table, dict) and table.get("quiet_hours")}
    return channels, quiet


def rule_engine(config: MonitorConfig, alerts, known_channels: list[str]):
    """(RuleEngine, rules) for ``config/rules/``; every problem of a rule file or of a rule's
    contacts (``config/org.toml``) is logged, and the good rules run."""
    from alerts.engine import RuleEngine
    from alerts.rules import load_rules
    from monitor.org import load_org
    from monitor.workdays import WorkCalendar

    rules, problems = load_rules(config.config_dir)
    for problem in problems:
        log.error("rule not loaded: %s", problem)
    org = load_org(config.config_dir)
    for rule in rules.values():
        for problem in org.check(list(rule.contacts), known_channels):
            log.error("rule %s: %s", rule.id, problem)

    def route(rule):
        return org.route(list(rule.channels), list(rule.contacts))

    calendar = WorkCalendar.load(config.config_dir, timezone=config.timezone, strict=False,
                                 on_warning=log.warning)
    return RuleEngine(rules, alerts, route=route, calendar=calendar), rules


def role_channels(config: MonitorConfig):
    """A function from role (or contact) names in ``config/org.toml`` to channel names: how
    the deadline clocks reach the people at each step."""
    from monitor.org import load_org

    org = load_org(config.config_dir)

    def route(names: list[str]) -> list[str]:
        return list(org.route([], list(names)).channels)

    return route
