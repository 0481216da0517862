"""Maintenance windows: config/maintenance.toml checked when read; a channel's window holds its
deliveries, a source's window holds its alerts; the top severity always goes.  Real SQLite, log
channels writing JSON lines, a hand clock."""
from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alerts.lifecycle import Alerts, Firing
from clocks import T0, log_channels, logged
from alerts.maintenance import Maintenance, load_maintenance
from alerts.message import AlertDoc, AlertMessage
from alerts.outbox import Outbox, QuietHours
from monitor.errors import ConfigError
from monitor.state import StateDB

SH = timezone(timedelta(hours=8))
REPO = Path(__file__).resolve().parents[1]

DUTY = '''
[[window]]
start = "2026-12-01 10:00"
end = "2026-12-01 12:00"
reason = "钉钉机器人维护"
channels = ["duty"]
'''
SOURCE = '''
[[window]]
start = "2026-12-01 10:00"
end = "2026-12-01 12:00"
reason = "县政府网站改版"
sources = ["county-news"]
'''


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def windows(tmp_path: Path, text: str, **kw) -> Maintenance:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "maintenance.toml").write_text(text, encoding="utf-8")
    return load_maintenance(folder, **kw)


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        windows(tmp_path, text)
    message = str(err.value)
    assert str(tmp_path / "config" / "maintenance.toml") in message and "\n" not in message
    return message


class World:
    def __init__(self, tmp_path: Path, maintenance: Maintenance, **kw):
        self.now = T0
        self.tmp = tmp_path
        engine = StateDB(f"sqlite:///{tmp_path / 'state.db'}").engine
        channels = log_channels(tmp_path)
        self.box = Outbox(engine, channels, clock=lambda: self.now, rng=random.Random(5),
                          maintenance=maintenance, **kw)
        self.book = Alerts(self.box)

    def at(self, minutes: float) -> datetime:
        self.now = at(minutes)
        return self.now

    def sent(self, channel: str = "duty") -> list[dict]:
        return logged(self.box, self.tmp, channel)


def note(i: int, severity: str = "warning") -> AlertMessage:
    return AlertMessage(alert_id=f"r-{i}", kind="firing", rule="r", rule_name="规则",
                        severity=severity, title=f"告警 {i}", reason="测试", fired_at=T0)


def doc(source: str) -> AlertDoc:
    return AlertDoc(title="帖子", source=source, channel="news", url=f"https://x.example/{source}")


def firing(severity: str = "warning", sources=("county-news",), **kw) -> Firing:
    base = dict(rule="r", group={"place": "城关镇"}, severity=severity, title="话题升温",
                reason="1 小时内 12 条", channels=["duty"], documents=[doc(s) for s in sources])
    return Firing(**{**base, **kw})


# -- the file -----------------------------------------------------------------------------------

def test_no_file_means_no_windows_and_the_shipped_example_holds_none(tmp_path):
    assert len(load_maintenance(tmp_path)) == 0
    shutil.copy(REPO / "config" / "maintenance.toml", tmp_path / "maintenance.toml")
    assert load_maintenance(tmp_path).windows == []
    # and with its windows uncommented, it is a valid file
    text = (REPO / "config" / "maintenance.toml").read_text("utf-8")
    live = "\n".join(line[2:] if line.startswith("# ") and ("=" in line or "[[" in line)
                     else line for line in text.splitlines())
    assert len(windows(tmp_path, live)) == 2


def test_times_are_read_in_the_office_zone_unless_they_carry_an_offset(tmp_path):
    m = windows(tmp_path, '''
[[window]]
start = "2026-12-05 22:00"
end = 2026-12-06T06:00:00
reason = "割接"
channels = ["duty"]
[[window]]
start = "2026-12-05T22:00:00+00:00"
end = 2026-12-06 06:00:00Z
reason = "割接"
sources = ["a", "b"]
''')
    one, two = m.windows
    assert (one.start, one.end) == (datetime(2026, 12, 5, 22, tzinfo=SH),
                                    datetime(2026, 12, 6, 6, tzinfo=SH))
    assert (two.start, two.end) == (datetime(2026, 12, 5, 22, tzinfo=timezone.utc),
                                    datetime(2026, 12, 6, 6, tzinfo=timezone.utc))
    assert (one.channels, two.sources) == (("duty",), ("a", "b"))
    # the office zone comes from monitor.toml when it names one
    (tmp_path / "config" / "monitor.toml").write_text('[monitor]\ntimezone = "UTC"\n')
    utc = load_maintenance(tmp_path / "config").windows[0]
    assert utc.start == datetime(2026, 12, 5, 22, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, key, words", [
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-06 06:00"\nreason = "x"\n',
     "[window[1].channels]", "sources"),
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-05 21:00"\nreason = "x"\n'
     'channels = ["duty"]\n', "[window[1].end]", "not after the start"),
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-05 22:00"\nreason = "x"\n'
     'channels = ["duty"]\n', "[window[1].end]", "not after the start"),
    ('[[window]]\nstart = "2026-12-01 00:00"\nend = "2026-12-08 00:01"\nreason = "x"\n'
     'channels = ["duty"]\n', "[window[1].end]", "more than 7 days"),
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-06 06:00"\nreason = "x"\n'
     'chanels = ["duty"]\n', "[window[1].chanels]", "did you mean 'channels'"),
    ('[[windows]]\nstart = "2026-12-05 22:00"\n', "[windows]", "did you mean 'window'"),
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-06 06:00"\nchannels = ["d"]\n',
     "[window[1].reason]", "required"),
    ('[[window]]\nstart = "2026-12-05"\nend = "2026-12-06 06:00"\nreason = "x"\n'
     'channels = ["d"]\n', "[window[1].start]", "date and time"),
    ('[[window]]\nstart = 2026-12-05\nend = "2026-12-06 06:00"\nreason = "x"\n'
     'channels = ["d"]\n', "[window[1].start]", "only 2026-12-05"),
    ('[[window]]\nend = "2026-12-06 06:00"\nreason = "x"\nchannels = ["d"]\n',
     "[window[1].start]", "missing"),
    ('[[window]]\nstart = "2026-12-05 22:00"\nend = "2026-12-06 06:00"\nreason = "x"\n'
     'channels = ["d", 3]\n', "[window[1].channels]", "list of names"),
    ('window = "soon"\n', "[window]", "expected a list"),
])
def test_every_bad_window_is_a_config_error_naming_the_file_and_key(tmp_path, text, key, words):
    message = problem(tmp_path, text)
    assert key in message and words in message


def test_a_window_of_exactly_seven_days_is_allowed(tmp_path):
    m = windows(tmp_path, '[[window]]\nstart = "2026-12-01 00:00"\nend = "2026-12-08 00:00"\n'
                          'reason = "x"\nsources = ["s"]\n')
    assert m.windows[0].end - m.windows[0].start == timedelta(days=7)


def test_unknown_names_are_listed_for_the_checker(tmp_path):
    m = windows(tmp_path, DUTY + SOURCE)
    assert m.unknown(["chief"], ["county-news"]) == ["window[1]: unknown channel 'duty'"]


# -- a channel's window -------------------------------------------------------------------------

def test_a_channels_window_holds_below_the_top_severity_until_its_exclusive_end(tmp_path):
    w = World(tmp_path, windows(tmp_path, DUTY))
    w.at(0)  # the start is inclusive
    w.box.enqueue(note(1), ["duty", "chief"])
    w.box.enqueue(note(2, "critical"), ["duty"])
    assert [m["alert_id"] for m in w.sent("duty")] == ["r-2"]  # critical at once
    assert [m["alert_id"] for m in w.sent("chief")] == ["r-1"]  # another channel: unaffected
    [held] = [d for d in w.box.deliveries(state="pending")]
    assert (held.channel, held.held, held.next_at) == ("duty", "maintenance", at(120))
    w.at(119.99)
    assert len(w.sent("duty")) == 1
    w.at(120)  # the end is exclusive: it goes
    assert [m["alert_id"] for m in w.sent("duty")] == ["r-2", "r-1"]


def test_touching_windows_hold_until_the_last_ends_and_quiet_hours_apply_after(tmp_path):
    later = DUTY + ('[[window]]\nstart = "2026-12-01 12:00"\nend = "2026-12-01 22:30"\n'
                    'reason = "延长"\nchannels = ["duty"]\n')
    quiet = {"duty": QuietHours.parse("22:00-07:00")}
    w = World(tmp_path, windows(tmp_path, later), quiet_hours=quiet)
    w.at(30)
    w.box.enqueue(note(1), ["duty"])
    assert w.sent() == []
    assert w.box.deliveries()[0].next_at == datetime(2026, 12, 1, 22, 30, tzinfo=SH)
    w.now = datetime(2026, 12, 1, 22, 30, tzinfo=SH)
    assert w.sent() == []
    d = w.box.deliveries()[0]
    assert (d.held, d.next_at) == ("quiet", datetime(2026, 12, 2, 7, 0, tzinfo=SH))


def test_a_long_hold_is_not_taken_for_a_clock_that_jumped(tmp_path):
    six_days = ('[[window]]\nstart = "2026-12-01 10:00"\nend = "2026-12-07 10:00"\n'
                'reason = "停用"\nchannels = ["duty"]\n')
    w = World(tmp_path, windows(tmp_path, six_days))
    w.box.enqueue(note(1), ["duty"])
    assert w.box.deliver_due().held == 1
    w.at(60)
    assert w.box.deliver_due().held == 0  # not picked up again each round
    assert w.box.deliveries()[0].next_at == datetime(2026, 12, 7, 10, tzinfo=SH)


def test_held_deliveries_survive_a_restart(tmp_path):
    m = windows(tmp_path, DUTY)
    w = World(tmp_path, m)
    w.box.enqueue(note(1), ["duty"])
    assert w.sent() == []
    again = World(tmp_path, m)  # a new process, the same state database
    again.at(120)
    assert [x["alert_id"] for x in again.sent()] == ["r-1"]


# -- a source's window --------------------------------------------------------------------------

def test_an_alert_only_from_sources_in_maintenance_is_held_until_the_window_ends(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    alert = w.book.fire(firing())
    assert not alert.notified and alert.sources == ["county-news"]
    w.at(119)
    assert w.book.tick() == [] and w.sent() == []
    w.at(120)
    assert w.book.tick() == [f"{alert.id}: notice sent (held before)"]
    assert [m["kind"] for m in w.sent()] == ["firing"]


def test_an_alert_with_a_document_from_another_source_goes_at_once(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    assert w.book.fire(firing(sources=("county-news", "city-forum"))).notified
    assert [m["kind"] for m in w.sent()] == ["firing"]


def test_a_later_document_from_another_source_releases_the_alert(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    assert not w.book.fire(firing()).notified
    w.at(5)
    again = w.book.fire(firing(sources=("city-forum",)))
    assert again.sources == ["county-news", "city-forum"]  # every source it has seen
    w.book.tick()
    assert [m["kind"] for m in w.sent()] == ["firing"]


def test_a_digest_due_in_a_channels_window_waits_with_its_batch_and_goes_as_one(tmp_path):
    w = World(tmp_path, windows(tmp_path, DUTY))
    for place in ("城关镇", "河口乡"):
        w.book.fire(firing(group={"place": place}, aggregate=600.0, sources=()))
    w.at(10)
    assert w.sent() == []
    assert {d.held for d in w.box.deliveries()} == {"maintenance"}
    w.at(120)
    [digest] = w.sent()
    assert digest["kind"] == "digest" and len(digest["parts"]) == 2


def test_the_top_severity_is_never_held_by_a_sources_window(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    assert w.book.fire(firing("critical")).notified
    assert [m["severity"] for m in w.sent()] == ["critical"]


def test_the_group_source_decides_when_the_firing_names_no_documents(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    quiet = w.book.fire(firing(sources=(), group={"source": "county-news"}))
    assert not quiet.notified and quiet.sources == ["county-news"]
    assert w.book.fire(firing(sources=(), group={"place": "河口乡"})).notified  # no source


def test_an_alert_that_clears_inside_the_window_is_never_told(tmp_path):
    w = World(tmp_path, windows(tmp_path, SOURCE))
    w.book.fire(firing())
    w.at(30)
    w.book.clear("r", {"place": "城关镇"})
    w.at(120)
    w.book.tick()
    assert w.sent() == []


def test_a_window_never_stops_the_all_clear_of_an_alert_people_were_told_of(tmp_path):
    late = SOURCE.replace("2026-12-01 10:00", "2026-12-01 10:30")
    w = World(tmp_path, windows(tmp_path, late))
    w.book.fire(firing())  # 10:00, before the window: told
    w.at(45)
    w.book.clear("r", {"place": "城关镇"})
    assert [m["kind"] for m in w.sent()] == ["firing", "resolved"]


def test_handover_passes_sources_and_aggregation(tmp_path):
    from alerts.ruletypes._common import Firing as RuleFiring
    from alerts.ruletypes.handover import to_alert
    from monitor.store import StoreConfig
    from monitor.store.embedded import EmbeddedStore
    from rules_helpers import NOW, at as doc_at, rule

    text = 'name = "围墙"\ntype = "match"\nquery = "围墙"\nchannels = ["duty"]\n'
    docs = [doc_at(1, source="county-news"), doc_at(2, source="city-forum")]
    with EmbeddedStore(StoreConfig(path=tmp_path / "docs.db")) as store:
        store.put_many(docs)
        r = rule(text, "wall")
        window = (NOW - timedelta(hours=1), NOW)
        by_docs = to_alert(RuleFiring(r, {}, 2, window, [d.id for d in docs]), store)
        assert sorted(by_docs.sources) == ["city-forum", "county-news"]
        by_group = to_alert(RuleFiring(r, {"source": "s1"}, 2, window, [docs[0].id]), store)
        assert by_group.sources == ["s1"]
        r.aggregation_minutes = 10
        assert to_alert(RuleFiring(r, {}, 1, window, []), store).aggregate == 600.0
