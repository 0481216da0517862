"""Alert rules and delivery channels (log, e-mail, DingTalk, WeCom, Feishu, webhook).

Empty for now: the alerting work adds ``alerts/rules.py`` (rule types evaluated on new documents
and windows), ``alerts/channels/`` (one module per channel) and the durable outbox.  The package
exists so that the product's top-level layout is fixed from the start.
"""
