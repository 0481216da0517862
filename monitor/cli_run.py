"""``monitor run``: the service (monitor/service.py; docs/deployment.md)."""
from __future__ import annotations

import logging

import click

from monitor.cli import Context, pass_ctx
from monitor.output import echo_json, table

log = logging.getLogger(__name__)


@click.command()
@click.option("--once", is_flag=True,
              help="Do one round of everything due (crawls, rules, alerts, deliveries), "
                   "wait for it, and exit: for cron-style hosts.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the round as JSON.")
@pass_ctx
def run(obj: Context, once: bool, as_json: bool) -> None:
    """Run the monitor as a service: crawl every enabled source on its schedule, store what
    the crawls collect, evaluate the alert rules and deliver the alerts.

    One service per state database: a second one refuses to start and names the first.
    SIGTERM, SIGINT (Ctrl-C) or SIGHUP stop it cleanly.  Logs go to stderr (-v for more).
    Rule files are re-read when they change; restart it after changing sources, channels,
    org.toml or maintenance.toml.  With --once the exit status is 1 if a crawl failed.
    """
    from monitor.service import Service

    root = logging.getLogger()
    for handler in root.handlers:  # a service's log lines need their time
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if obj.verbose == 0:  # a service should say what it does without -v
        root.setLevel(logging.INFO)
        for noisy in ("sqlalchemy", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    config = obj.config
    for err in config.source_errors:  # never skip a broken source without saying so
        log.error("source not crawled: %s", err)
    service = Service(config)
    service.start()
    try:
        if once:
            done = service.run_once()
            _report(done, as_json)
        else:
            service.run_forever()
    finally:
        service.stop()
    if once and any(r.status == "failed" for r in done["results"]):
        raise SystemExit(1)  # cron mails the output of a failed round


def _report(done: dict, as_json: bool) -> None:
    results = done["results"]
    if as_json:
        echo_json({"crawls": [r.to_dict() for r in results], "rules": done["rules"],
                   "alerts": done["ticked"], "outbox": done["outbox"]})
        return
    if results:
        click.echo(table(["source", "status", "message"],
                         [[r.source, r.status, r.message] for r in results]))
    else:
        click.echo("no crawl was due")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(done["outbox"].items())) or "empty"
    click.echo(f"{done['rules']} window rule(s) evaluated; outbox: {counts}")
