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


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Is `monitor run` running (pid, host, since, last renewal), what waits in its inbox
    and outbox, how many alerts are open, the next incident clock step and the breaches."""
    from datetime import datetime, timezone

    from sqlalchemy import func, select

    from alerts.tables import OPEN_STATES, alerts, ensure_tables
    from monitor.handoff import inbox_dir
    from monitor.lease import Lease
    from monitor.output import local_time
    from monitor.spool import Spool
    from monitor.state import StateDB

    config = obj.config
    engine = StateDB(config.state_url).engine
    ensure_tables(engine)
    lease = Lease(engine)
    holder = lease.holder()
    now = datetime.now(timezone.utc)
    gone = lease._gone(holder, now) if holder else None
    with engine.connect() as c:
        open_alerts = c.execute(select(func.count()).select_from(alerts).where(
            alerts.c.state.in_(OPEN_STATES))).scalar()
    from alerts.outbox import Outbox

    outbox = Outbox(engine, {}).counts()
    from monitor.clocks import Clocks

    clocks = Clocks(engine)
    next_step = clocks.next_due()
    breaches = len(clocks.breaches())
    inbox = len(Spool(inbox_dir(config.data_dir)).pending())
    data = {"running": holder is not None and gone is None,
            "service": None if holder is None else {
                "pid": holder.pid, "host": holder.host, "since": holder.since.isoformat(),
                "renewed_at": holder.renewed_at.isoformat(), "gone": gone},
            "inbox_files": inbox, "outbox": outbox, "open_alerts": open_alerts,
            "next_clock_step": next_step.isoformat() if next_step else None,
            "breaches": breaches}
    if as_json:
        echo_json(data)
        return
    tz = config.timezone
    if holder is None:
        click.echo("monitor run: not running")
    elif gone:
        click.echo(f"monitor run: not running (the last one, pid {holder.pid} on "
                   f"{holder.host}, is gone: {gone})")
    else:
        click.echo(f"monitor run: running, pid {holder.pid} on {holder.host}, since "
                   f"{local_time(holder.since, tz)} (lease renewed "
                   f"{local_time(holder.renewed_at, tz)})")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "empty"
    click.echo(f"inbox: {inbox} file(s) waiting; outbox: {counts}; open alerts: {open_alerts}")
    click.echo(f"incident clocks: next step {local_time(next_step, tz) if next_step else 'none'}"
               f"; breaches recorded: {breaches}")
