"""monitor.service in-process, time driven by an injected clock: the schedule, the hand-off, the
per-document and window rules, the lease.  (tests/test_service_process.py runs it as a process.)"""
from __future__ import annotations

import os
from contextlib import contextmanager
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alerts.channels.webhook import WebhookChannel
from alerts.tables import alert_notices
from clocks import Clock
from conftest import board_source
from faults._killkit import wait_for
from monitor.app import Monitor
from monitor.config import SourceConfig, load_config
from monitor.errors import ConfigError
from monitor.handoff import HandoffWriter, inbox_dir, label_run_id, run_label
from monitor.lease import Lease, ServiceRunning, service_lease
from monitor.schedule import next_crawl, next_rule
from monitor.service import Service
from monitor.sourcefile import parse_source
from monitor.state import StateDB
from monitor.store import SearchQuery
from monitor.testing import make_document
from receivers import Receiver

UTC = timezone.utc


def _board(base: str):
    """The fixture board (tests/conftest.py), crawled every 30 minutes."""
    return board_source(base, interval_minutes=30)


@contextmanager
def running(config, **kwargs):
    """A started Service on ``config`` (stopped after the block)."""
    service = Service(config, **kwargs)
    service.start()
    try:
        yield service
    finally:
        service.stop()




def _rule(config_dir, name: str, text: str) -> None:
    (config_dir / "rules").mkdir(exist_ok=True)
    (config_dir / "rules" / f"{name}.toml").write_text(text, encoding="utf-8")


def _hook(rx: Receiver) -> dict:
    return {"hook": WebhookChannel("hook", {"url": rx.url("webhook"), "timeout": 2})}


def _notices(config) -> list:
    with StateDB(config.state_url).engine.connect() as c:
        return c.execute(select(alert_notices.c.notice_id, alert_notices.c.kind)).all()


# -- the schedule -----------------------------------------------------------------------------

def test_interval_schedule_coalesces_missed_runs():
    src = SourceConfig(id="s", spider="rss", channel="news", url="http://x/", interval_minutes=30)
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert next_crawl(src, None, now, "Asia/Shanghai") == now  # never crawled: at once
    assert next_crawl(src, now, now, "Asia/Shanghai") == now + timedelta(minutes=30)
    # down for five hours: due now, once (not ten times)
    assert next_crawl(src, now - timedelta(hours=5), now, "Asia/Shanghai") < now


def test_cron_is_read_in_the_office_time_zone():
    src = SourceConfig(id="s", spider="rss", channel="news", url="http://x/",
                       cron="*/10 7-23 * * *")
    # 22:55 UTC is 06:55 in Shanghai: the first crawl is at 07:00 local = 23:00 UTC
    now = datetime(2026, 12, 1, 22, 55, tzinfo=UTC)
    assert next_crawl(src, None, now, "Asia/Shanghai") == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    # 15:55 UTC is 23:55 local: the next one is 07:00 local the next day, not 00:00
    late = datetime(2026, 12, 1, 15, 55, tzinfo=UTC)
    assert next_crawl(src, late, late, "Asia/Shanghai") == datetime(2026, 12, 1, 23, 0,
                                                                     tzinfo=UTC)
    assert next_rule(None, now, 60) == now
    assert next_rule(now, now, 60) == now + timedelta(seconds=60)


def test_a_bad_cron_line_is_a_config_error_naming_the_key(tmp_path):
    base = {"spider": "rss", "channel": "news", "url": "http://example.gov.cn/feed"}
    with pytest.raises(ConfigError, match="cron.*higher than the maximum"):
        parse_source({**base, "cron": "0 25 * * *"}, tmp_path / "s.toml")
    with pytest.raises(ConfigError, match="five crontab fields"):
        parse_source({**base, "cron": "hourly"}, tmp_path / "s.toml")
    with pytest.raises(ConfigError, match="either cron or interval_minutes"):
        parse_source({**base, "cron": "0 8 * * *", "interval_minutes": 5}, tmp_path / "s.toml")
    assert parse_source({**base, "cron": "0 8 * * 1-5"}, tmp_path / "s.toml").cron == "0 8 * * 1-5"


# -- hand-off ---------------------------------------------------------------------------------

def test_handoff_files_are_whole_and_labelled(tmp_path):
    ticks = iter([0.0, 0.0, 0.1, 0.2, 5.0, 5.0, 5.0])
    writer = HandoffWriter(tmp_path, run_label(7, "county-mailbox"), batch=3,
                           clock=lambda: next(ticks))
    docs = [make_document(f"第{i}封信", title=f"信{i}") for i in range(4)]
    writer.add(docs[0])
    writer.add(docs[1])
    assert list(tmp_path.iterdir()) == []  # neither full nor old yet
    writer.add(docs[2])  # full: one file
    writer.add(docs[3])
    assert writer.close() == 4 and writer.files == 2
    files = sorted(tmp_path.glob("*.jsonl"))
    assert [label_run_id(p) for p in files] == [7, 7]
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_run_once_crawls_hands_off_stores_and_alerts(board_site, make_config):
    config = load_config(make_config([_board(board_site)]))
    _rule(config.config_dir, "school", 'type = "match"\nquery = "学校"\nchannels = ["hook"]\n')
    with Receiver() as rx:
        with running(config, channels=_hook(rx)) as service:
            done = service.run_once()
        result = done["results"][0]
        assert result.status == "ok", result.message
        assert result.report["ingest"]["inserted"] == 5 and result.report["handed_off"] >= 5
        assert "5 new" in result.message
        titles = [r.json["title"] for r in rx.accepted("webhook")]
    assert len(titles) == 1 and "school" in titles[0]
    assert not list(inbox_dir(config.data_dir).glob("*"))  # everything stored, files gone
    with Monitor(config) as m:
        assert m.store.count(SearchQuery()) == 5
        run = m.state.runs("board")[0]
        assert (run.status, run.inserted) == ("ok", 5)
    # a second round: the crawl is not due yet (interval 30 min), nothing fires again
    with running(config, channels=_hook(Receiver())) as service:
        again = service.run_once()
    assert again["crawls"] == [] and len(_notices(config)) == 1


def test_a_file_left_by_a_killed_service_is_stored_once_and_alerts_once(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "wall", 'type = "match"\nquery = "围墙"\nchannels = ["hook"]\n')
    first = Service(config, channels={})  # the service knew the rule before it died
    first.start()
    first.stop()
    doc = make_document("学校围墙倒塌，有学生受伤", title="围墙倒塌")
    # the service stored the file and told nobody, then died with the file claimed
    writer = HandoffWriter(inbox_dir(config.data_dir), run_label(3, "x"))
    writer.add(doc)
    writer.close()
    path = next(inbox_dir(config.data_dir).glob("*.jsonl"))
    dead = subprocess.Popen(["true"])
    dead.wait()
    path.rename(path.with_name(path.name + f".claimed-{dead.pid}"))
    with Monitor(config) as m:
        m.ingest([doc])  # stored before the crash: the replay finds it unchanged
    with Receiver() as rx:
        for _ in range(2):  # and a second restart finds nothing left to do
            with running(config, channels=_hook(rx)) as service:
                service.run_once()
        assert len(rx.accepted("webhook")) == 1
    assert not list(inbox_dir(config.data_dir).glob("*.jsonl*"))  # stored, files gone
    with Monitor(config) as m:
        assert m.store.count(SearchQuery()) == 1


# -- rules on the injected clock ----------------------------------------------------------------

def _store(config, docs) -> None:
    with Monitor(config) as m:
        m.ingest(docs)


def test_window_rule_catches_up_a_burst_that_happened_while_it_was_down(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "burst",
          'type = "frequency"\nwindow_minutes = 30\nmin_count = 3\nchannels = ["hook"]\n'
          'realert_minutes = 0\n')
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = Clock(start)
    with Receiver() as rx:
        service = Service(config, clock=clock, channels=_hook(rx))
        service.start()
        service.run_pending()
        service._evaluating.result()
        service.stop()
        # while it is down: a burst of 4 posts at 01:00–01:10, over by 02:00
        _store(config, [make_document(f"投诉{i}", title=f"投诉{i}",
                                      published_at=start + timedelta(hours=1, minutes=3 * i))
                        for i in range(4)])
        clock.advance(hours=3)
        service = Service(config, clock=clock, channels=_hook(rx))
        service.start()
        service.run_pending()
        service._evaluating.result()
        service.run_pending()  # deliver what the evaluation queued
        service.outbox.deliver_due(clock(), wait=True)
        service.stop()
        kinds = sorted(r.json["kind"] for r in rx.accepted("webhook"))
    assert kinds == ["firing", "resolved"]  # the burst fired (late) and was over


def test_per_document_episode_merges_the_burst_then_ends_when_quiet(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "wall",
          'type = "match"\nterms = ["围墙"]\nchannels = ["hook"]\nrealert_minutes = 20\n')
    clock = Clock(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    with Receiver() as rx:
        with running(config, clock=clock, channels=_hook(rx)) as service:
            docs = [make_document(f"学校围墙{i}处开裂", title=f"围墙{i}", risk=0.1 * i)
                    for i in range(1, 5)]
            service.monitor.ingest(docs)
            pairs = [(d, "inserted") for d in docs]
            service.engine.on_stored(pairs[:1], service.monitor.store, clock())
            service.engine.on_stored(pairs[1:], service.monitor.store, clock())
            service.engine.on_stored(pairs, service.monitor.store, clock())  # again: no effect
            [alert] = service.alerts.list()
            message = alert.message
            assert message["count"] == 4
            assert len(message["documents"]) == 4
            clock.advance(minutes=19)
            assert service.engine.close_quiet(clock()) == 0
            clock.advance(minutes=1)
            assert service.engine.close_quiet(clock()) == 1
            service.outbox.deliver_due(clock(), wait=True)
        kinds = [r.json["kind"] for r in rx.accepted("webhook")]
    assert kinds == ["firing", "resolved"]


def test_a_rule_added_later_does_not_fire_on_documents_stored_before(make_config):
    config = load_config(make_config())
    old = make_document("学校围墙倒塌", title="旧帖", crawled_at=datetime(2026, 11, 1, tzinfo=UTC))
    _store(config, [old])
    _rule(config.config_dir, "wall", 'type = "match"\nterms = ["围墙"]\nchannels = ["hook"]\n')
    clock = Clock(datetime(2026, 12, 1, tzinfo=UTC))
    with running(config, clock=clock, channels={}) as service:
        assert service.engine.on_stored([(old, "unchanged")], service.monitor.store,
                                        clock()) == 0
        assert service.engine.on_stored([(old, "updated")], service.monitor.store, clock()) == 1


# -- the lease --------------------------------------------------------------------------------

def test_a_second_service_refuses_naming_the_first_then_takes_over_when_it_is_gone(
        make_config):
    config = load_config(make_config())
    state = StateDB(config.state_url)
    other = subprocess.Popen(["sleep", "60"])
    try:
        lease = Lease(state.engine)
        lease.pid, lease.token = other.pid, None
        now = datetime.now(UTC)
        lease.acquire(now)
        service = Service(config, channels={})
        with pytest.raises(ServiceRunning, match=f"pid {other.pid} on host"):
            service.start()
    finally:
        other.kill()
        other.wait()
    with running(config, channels={}) as service:  # the holder's process is gone: taken over at once
        holder = service.lease.holder()
        assert holder.pid == os.getpid()
    with state.engine.connect() as c:
        assert c.execute(select(service_lease)).all() == []  # a clean stop gives it up


def test_a_lapsed_lease_of_another_host_is_taken_over(make_config):
    config = load_config(make_config())
    state = StateDB(config.state_url)
    lease = Lease(state.engine, seconds=60)
    lease.host = "elsewhere"
    now = datetime.now(UTC)
    lease.acquire(now - timedelta(minutes=5))
    with pytest.raises(ServiceRunning):
        Lease(state.engine).acquire(now - timedelta(minutes=4, seconds=30))
    assert Lease(state.engine).acquire(now).host == "elsewhere"  # the one taken over from


def test_monitor_crawl_while_the_service_runs_hands_off_to_it(board_site, make_config):
    import threading

    from monitor.crawl import run_crawl

    config = load_config(make_config([_board(board_site)]))
    _rule(config.config_dir, "school", 'type = "match"\nquery = "学校"\nchannels = ["hook"]\n')
    with Receiver() as rx:
        service = Service(config, channels=_hook(rx))
        service.start()
        service.schedule.crawls["board"] = datetime(2099, 1, 1, tzinfo=UTC)  # it crawls nothing
        loop = threading.Thread(target=service.run_forever)
        loop.start()
        try:
            result = run_crawl(config, "board")  # as `monitor crawl board` in another shell
        finally:
            service.request_stop("test over")
            loop.join(30)
            service.stop()
        assert result.status == "ok", result.message
        assert result.report["ingest"]["inserted"] == 5
        assert "stored by monitor run (pid" in result.message
        assert len(rx.accepted("webhook")) == 1  # the service's rules saw the documents
    assert not [p for p in inbox_dir(config.data_dir).iterdir()]


def test_rule_files_changed_while_running_are_reloaded(make_config):
    config = load_config(make_config())
    clock = Clock(datetime(2026, 12, 1, tzinfo=UTC))
    with running(config, clock=clock, channels={}) as service:
        assert service.engine.rules == {}
        _rule(config.config_dir, "wall", 'type = "match"\nterms = ["围墙"]\n')
        _rule(config.config_dir, "burst", 'type = "frequency"\nwindow_minutes = 30\n'
                                          'min_count = 3\n')
        _rule(config.config_dir, "broken", 'type = "frequncy"\n')
        service.run_pending()
        assert sorted(service.engine.rules) == ["burst", "wall"]  # the broken one is logged
        assert "burst" in service.schedule.rules
        assert service.reload_rules(clock()) is False  # nothing changed since


def test_a_clock_that_jumps_back_does_not_push_the_schedule_away(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "burst", 'type = "frequency"\nwindow_minutes = 30\nmin_count = 3\n')
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    with running(config, clock=clock, channels={}) as service:
        service.run_pending()
        service._evaluating.result()
        assert service.schedule.rules["burst"] == clock() + timedelta(seconds=60)
        clock.advance(hours=-3)  # the clock is set back three hours
        service.run_pending()
        assert service.schedule.rules["burst"] <= clock() + timedelta(seconds=60)
        assert service._renew_at <= clock() + timedelta(seconds=60)


def test_new_term_learns_old_documents_silently_and_fires_on_new_ones(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "new-place", 'type = "new_term"\nfield = "place"\n')
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    with running(config, clock=clock, channels={}) as service:  # an empty store: nothing learned yet, learned_until = 10:59 … 11:00
        old = [make_document(f"旧帖{i}", title=f"旧帖{i}", place=p,
                             published_at=clock() - timedelta(days=3))
               for i, p in enumerate(["城关镇", "东湖镇"])]
        new = make_document("新帖", title="新帖", place="白沙镇", published_at=clock())
        again = make_document("又一帖", title="又一帖", place="城关镇", published_at=clock())
        service.monitor.ingest(old + [new, again])
        pairs = [(d, "inserted") for d in old + [new, again]]
        assert service.engine.on_stored(pairs, service.monitor.store, clock()) == 1
        [alert] = service.alerts.list()
        assert alert.message["group"] == {"place": "白沙镇"}


def test_monitor_status_names_the_running_service(make_config):
    from click.testing import CliRunner

    from monitor.cli import cli

    config = load_config(make_config())
    idle = CliRunner().invoke(cli, ["-c", str(config.config_dir), "status"])
    assert idle.exit_code == 0 and "monitor run: not running" in idle.output
    with running(config, channels={}):
        out = CliRunner().invoke(cli, ["-c", str(config.config_dir), "status"]).output
        assert f"running, pid {os.getpid()} on " in out
        assert "inbox: 0 file(s) waiting" in out


def test_a_channel_whose_secret_is_not_set_dead_letters_with_the_reason(make_config,
                                                                        monkeypatch):
    monkeypatch.delenv("MONITOR_TEST_UNSET_SECRET", raising=False)
    config = load_config(make_config())
    (config.config_dir / "channels.toml").write_text(
        '[robot]\ntype = "dingtalk"\n'
        'webhook = "http://127.0.0.1:9/robot/send?access_token=${MONITOR_TEST_UNSET_SECRET}"\n',
        encoding="utf-8")
    _rule(config.config_dir, "wall", 'type = "match"\nterms = ["围墙"]\nchannels = ["robot"]\n')
    with running(config) as service:
        docs = [make_document("学校围墙倒塌", title="围墙倒塌")]
        service.monitor.ingest(docs)
        service.engine.on_stored([(docs[0], "inserted")], service.monitor.store,
                                 service.clock())
        service.outbox.deliver_due(service.clock(), wait=True)
        [dead] = service.outbox.deliveries(state="dead")
        assert dead.channel == "robot" and "MONITOR_TEST_UNSET_SECRET" in dead.last_error


def test_matches_of_one_batch_are_one_firing_and_one_notice(make_config):
    config = load_config(make_config())
    _rule(config.config_dir, "wall", 'type = "match"\nterms = ["围墙"]\nchannels = ["hook"]\n'
                                     'top = 2\n')
    clock = Clock(datetime(2026, 12, 1, tzinfo=UTC))
    with Receiver() as rx, running(config, clock=clock, channels=_hook(rx)) as service:
        docs = [make_document(f"学校围墙{i}处开裂", title=f"围墙{i}",
                              published_at=clock() - timedelta(minutes=10 - i))
                for i in range(5)]
        service.monitor.ingest(docs)
        assert service.engine.on_stored([(d, "inserted") for d in docs], service.monitor.store,
                                        clock()) == 5
        service.outbox.deliver_due(clock(), wait=True)
        [alert] = service.alerts.list()
        assert alert.message["count"] == 5 and len(alert.message["documents"]) == 2
        assert alert.message["reason"].startswith("5 条信息命中规则") and "围墙4" in \
            alert.message["reason"]
        assert len(rx.accepted("webhook")) == 1


def test_the_service_fires_deadline_steps_to_the_roles_channels(make_config):
    from monitor.clocks import StepSpec

    config = load_config(make_config())
    (config.config_dir / "org.toml").write_text(
        '[contacts."张三"]\nchannels = ["hook"]\n\n[roles."新闻发言人"]\ncontacts = ["张三"]\n',
        encoding="utf-8")
    clock = Clock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    with Receiver() as rx, running(config, clock=clock, channels=_hook(rx)) as service:
        service.clocks.arm("INC-1", [StepSpec("release-target/due", "release-target", "due",
                                              clock() + timedelta(hours=3), ["新闻发言人"],
                                              text="3 小时发布目标已到")])
        assert service.run_pending()["clocks"] == []
        clock.advance(hours=3)
        [fired] = service.run_pending()["clocks"]
        assert fired.channels == ["hook"] and fired.late_seconds is None
        [got] = wait_for("the reminder delivered", lambda: rx.accepted("webhook"), 10)
        assert got.json["kind"] == "reminder" and "3 小时发布目标已到" in got.json["title"]


def test_an_own_channel_release_is_proposed_for_the_open_incident(make_config):
    config = load_config(make_config())
    (config.config_dir / "org.toml").write_text(
        '[contacts."钱二"]\nchannels = ["hook"]\n\n[roles."新闻发言人"]\ncontacts = ["钱二"]\n',
        encoding="utf-8")
    clock = Clock(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    with Receiver() as rx, running(config, clock=clock, channels=_hook(rx)) as service:
        inc = service.response.open("青石乡中心小学围墙倒塌", by="钱二",
                                    detected_at=clock() - timedelta(hours=2))
        portal = make_document("县教育局通报：青石乡中心小学东侧围墙局部倒塌，4名学生受伤。",
                               title="关于青石乡中心小学围墙倒塌事件的情况通报",
                               source="county-news", own=True, published_at=clock())
        citizen = make_document("青石乡中心小学围墙倒塌了", title="围墙倒塌", source="weibo")
        service.monitor.ingest([portal, citizen])
        pairs = [(portal, "inserted"), (citizen, "inserted")]
        service._stored(pairs)
        service._stored(pairs)  # stored again: proposed once
        proposed = [e for e in service.response.incidents.timeline(inc.id)
                    if e.kind == "release_proposed"]
        assert len(proposed) == 1 and proposed[0].data["document"] == portal.id
        assert service.response.released_at(inc.id) is None  # a person confirms it
        service.outbox.deliver_due(clock(), wait=True)
        [got] = wait_for("the press contact told", lambda: rx.accepted("webhook"), 10)
        assert got.json["title"].startswith("【发布待确认】")


def test_per_document_hits_older_than_30_days_are_forgotten_at_start(make_config):
    from sqlalchemy import insert

    from alerts.engine import rule_hits

    config = load_config(make_config())
    _rule(config.config_dir, "wall", 'type = "match"\nterms = ["围墙"]\n')
    clock = Clock(datetime(2026, 12, 1, tzinfo=UTC))
    with running(config, clock=clock, channels={}) as service:
        with service.state.engine.begin() as c:
            c.execute(insert(rule_hits).values(rule="wall", document_id="old",
                                               at=clock() - timedelta(days=31)))
            c.execute(insert(rule_hits).values(rule="wall", document_id="recent",
                                               at=clock() - timedelta(days=29)))
    with running(config, clock=clock, channels={}) as service:
        with service.state.engine.connect() as c:
            left = {r.document_id for r in c.execute(select(rule_hits)).all()}
    assert left == {"recent"}
