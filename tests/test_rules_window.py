"""Window rule types on a real EmbeddedStore with documents at known times: edges, group_by,
own channels, resolution."""
from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.ruletypes import RuleUnavailable, make
from monitor.store import StoreConfig
from monitor.store.embedded import EmbeddedStore
from rules_helpers import NOW, at, rule

FREQ = 'type = "frequency"\nwindow_minutes = 60\nmin_count = 2\nquery = "围墙"\n'


@pytest.fixture
def store(tmp_path):
    with EmbeddedStore(StoreConfig(path=tmp_path / "docs.db")) as st:
        yield st


def fire(text, store, now=NOW, **kw):
    return make(rule(text)).evaluate(store, now, **kw)


def test_frequency_window_edges_start_inclusive_end_exclusive(store):
    store.put_many([at(60), at(30.5)])  # exactly at the start, and inside
    [f] = fire(FREQ, store)
    assert f.count == 2 and f.window == (NOW - timedelta(minutes=60), NOW)
    assert not f.resolved and len(f.documents) == 2 and "2 条" in f.reason
    store.put_many([at(0)])  # exactly at the end: not in this window
    assert fire(FREQ, store)[0].count == 2
    # a minute later the document at the start has left the window
    assert fire(FREQ, store, NOW + timedelta(minutes=1))[0].count == 2  # 30.5 and 0
    assert fire(FREQ, store, NOW + timedelta(minutes=31)) == []


def test_frequency_below_min_count_does_not_fire(store):
    store.put_many([at(10), at(61)])  # 61 minutes ago is outside the window
    assert fire(FREQ, store) == []


def test_late_allowance_shifts_the_window_and_counts_late_documents(store):
    text = FREQ + "late_allowance_minutes = 10\n"
    store.put_many([at(5), at(9)])  # inside the allowance: not yet evaluated
    assert fire(text, store) == []
    store.put_many([at(10), at(10.5), at(69.9)])  # [now-70, now-10): at(10) is the end
    [f] = fire(text, store)
    assert f.count == 2 and f.window == (NOW - timedelta(minutes=70), NOW - timedelta(minutes=10))


def test_group_by_splits_and_place_filter_is_applied(store):
    store.put_many([at(1, place="城关镇"), at(2, place="城关镇"), at(3, place="河口乡"),
                    at(4, place="河口乡"), at(5, place="河口乡"), at(6, place="新店镇")])
    firings = fire(FREQ + 'group_by = ["place"]\n', store)
    assert {f.group["place"]: f.count for f in firings} == {"城关镇": 2, "河口乡": 3}
    for f in firings:  # the top documents belong to the group
        assert all(store.get(i).place == f.group["place"] for i in f.documents)
    only = fire(FREQ + 'group_by = ["place"]\n[filters]\nplaces = ["河口乡"]\n', store)
    assert [(f.group, f.count) for f in only] == [({"place": "河口乡"}, 3)]


def test_small_group_lists_its_own_top_documents_under_a_busy_one(store):
    # 210 risky documents in one town and 3 quiet ones in another: the small town's alert must
    # list its own 3 (not whatever it finds among the window's 200 riskiest), and so must a
    # department group and a rule with a places filter
    busy = [at(1 + i * 0.2, place="城关镇", department="住建局", risk=0.9) for i in range(210)]
    small = [at(30 + i, place="河口乡", department="教育局", risk=0.1) for i in range(3)]
    store.put_many(busy + small)
    want = {d.id for d in small}
    for group_by in ("place", "department"):
        firings = {tuple(f.group.values())[0]: f
                   for f in fire(FREQ + f'group_by = ["{group_by}"]\n', store)}
        quiet = firings["河口乡" if group_by == "place" else "教育局"]
        assert quiet.count == 3 and set(quiet.documents) == want
        assert len(firings["城关镇" if group_by == "place" else "住建局"].documents) == 5
    [f] = fire(FREQ + '[filters]\nplaces = ["河口乡"]\n', store)
    assert f.count == 3 and set(f.documents) == want
    [f] = fire(FREQ + 'group_by = ["place"]\n[filters]\ndepartments = ["教育局"]\n', store)
    assert f.group == {"place": "河口乡"} and set(f.documents) == want


def test_group_by_two_fields_is_grouped_outside_the_store(store):
    store.put_many([at(1, place="A", source="s1"), at(2, place="A", source="s1"),
                    at(3, place="A", source="s2"), at(4, place="A", source="s2")])
    firings = fire(FREQ + 'group_by = ["place", "source"]\n', store)
    assert sorted((f.group["source"], f.count) for f in firings) == [("s1", 2), ("s2", 2)]


def test_own_channels_are_excluded_unless_included(store):
    store.put_many([at(1, own=True), at(2, own=True), at(3)])
    assert fire(FREQ, store) == []
    [f] = fire(FREQ + "[filters]\ninclude_own = true\n", store)
    assert f.count == 3


def test_resolution_of_an_active_group(store):
    store.put_many([at(1, place="A")])
    text = FREQ + 'group_by = ["place"]\n'
    out = fire(text, store, active={(("place", "A"),), (("place", "B"),)})
    assert sorted((f.group["place"], f.resolved, f.count) for f in out) == [
        ("A", True, 1), ("B", True, 0)]


def test_group_by_event_without_provider_is_unavailable(store):
    store.put_many([at(1), at(2)])
    with pytest.raises(RuleUnavailable, match="event detection"):
        fire(FREQ + 'group_by = ["event"]\n', store)

    class Events:
        def events(self, document):
            return ["e1"]

    [f] = fire(FREQ + 'group_by = ["event"]\n', store, events=Events())
    assert f.group == {"event": "e1"} and f.count == 2


SPIKE = ('type = "spike"\nwindow_minutes = 60\nratio = 3\nmin_count = 3\nquery = "围墙"\n'
         'group_by = ["source"]\n')


def test_spike_up_edges(store):
    # before: [now-120, now-60) holds 1; now: [now-60, now) holds 3 → exactly 3×: fires
    store.put_many([at(120, source="a")] + [at(m, source="a") for m in (60, 30, 1)])
    [f] = fire(SPIKE, store)
    assert (f.group, f.count) == ({"source": "a"}, 3) and "3.0 倍" in f.reason
    store.put_many([at(90, source="a")])  # before = 2: 3 < 6, no longer a spike
    assert fire(SPIKE, store) == []
    assert [f.resolved for f in fire(SPIKE, store, active={(("source", "a"),)})] == [True]


def test_spike_needs_min_count_now(store):
    store.put_many([at(1, source="b"), at(2, source="b")])  # from 0 to 2 < min_count 3
    assert fire(SPIKE, store) == []
    store.put_many([at(3, source="b")])
    [f] = fire(SPIKE, store)
    assert f.count == 3 and "此前为 0" in f.reason
    assert fire(SPIKE + "min_previous = 1\n", store) == []


def test_spike_down(store):
    text = SPIKE.replace("ratio = 3", "ratio = 2") + 'direction = "down"\n'
    store.put_many([at(m, source="c") for m in (61, 70, 80, 119)] + [at(5, source="c")])
    [f] = fire(text, store)  # 4 before, 1 now: 1 × 2 ≤ 4
    assert (f.count, "骤降" in f.reason) == (1, True)
    store.put_many([at(6, source="c")])  # 2 × 2 ≤ 4 still
    assert len(fire(text, store)) == 1
    store.put_many([at(7, source="c")])  # 3 × 2 > 4
    assert fire(text, store) == []
    assert fire(SPIKE, store) == []  # direction up does not see a fall


FLAT = ('type = "flatline"\nwindow_minutes = 60\nbelow = 2\ngroup_by = ["source"]\n'
        'history_minutes = 600\nexpect = ["never-seen"]\n')


def test_flatline_quiet_source_and_expected_source(store):
    store.put_many([at(100, "普通新闻", source="quiet"), at(100, "普通新闻", source="busy"),
                    at(10, "普通新闻", source="busy"), at(20, "普通新闻", source="busy"),
                    at(59, "普通新闻", source="half")])
    out = {f.group["source"]: f.count for f in fire(FLAT, store)}
    assert out == {"quiet": 0, "never-seen": 0, "half": 1}
    store.put_many([at(1, "普通新闻", source="quiet"), at(2, "普通新闻", source="quiet")])
    out = fire(FLAT, store, active={(("source", "quiet"),)})
    assert [(f.group["source"], f.resolved) for f in out if f.group["source"] == "quiet"] == [
        ("quiet", True)]


def test_flatline_without_group(store):
    text = 'type = "flatline"\nwindow_minutes = 60\n'
    store.put_many([at(61)])
    [f] = fire(text, store)
    assert f.count == 0 and f.group == {}
    store.put_many([at(60)])  # the window start is inclusive
    assert fire(text, store) == []


CROSS = 'type = "cross_channel"\nwindow_minutes = 60\nmin_channels = 2\nquery = "围墙"\n'


def test_cross_channel(store):
    store.put_many([at(1, channel="social"), at(2, channel="social"), at(3, "交通新闻",
                                                                         channel="news")])
    assert fire(CROSS, store) == []  # the news item does not match the query
    store.put_many([at(61, channel="news")])  # outside the window
    assert fire(CROSS, store) == []
    store.put_many([at(59, channel="news", kind="article")])
    [f] = fire(CROSS, store)
    assert f.count == 3 and "2 个渠道" in f.reason and "news" in f.reason


def test_cross_channel_group_by_place(store):
    store.put_many([at(1, channel="social", place="A"), at(2, channel="news", place="A"),
                    at(3, channel="social", place="B"), at(4, channel="social", place="B")])
    [f] = fire(CROSS + 'group_by = ["place"]\n', store)
    assert f.group == {"place": "A"} and f.count == 2


def test_naive_now_is_refused(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        fire(FREQ, store, NOW.replace(tzinfo=None))


class ProtocolOnly:
    """Exposes only the Store protocol's reading methods, so that a rule reaching for anything
    embedded-specific (SQL, execute, bodies) fails here."""

    def __init__(self, store):
        self._store = store
        self.calls: set[str] = set()

    def __getattr__(self, name):
        if name not in ("search", "count", "count_by_field", "count_by_time", "get"):
            raise AttributeError(f"not in the Store protocol: {name}")
        self.calls.add(name)
        return getattr(self._store, name)


@pytest.mark.parametrize("text", [
    FREQ, FREQ + 'group_by = ["place", "author"]\n', SPIKE, FLAT, CROSS,
    CROSS + 'group_by = ["place"]\n', 'type = "match"\nquery = "围墙"\n',
    'type = "threshold"\nrisk = 0.1\n', 'type = "new_term"\nfield = "author"\n',
    'type = "new_term"\nfield = "place"\n', 'type = "unanswered"\nworkdays = 1\n',
])
def test_every_type_uses_only_the_store_protocol(store, text):
    store.put_many([at(m, place="A", author="x", source="s", risk=0.5) for m in (1, 2, 70)])
    proxy = ProtocolOnly(store)
    make(rule(text)).evaluate(proxy, NOW, state={})
    assert proxy.calls <= {"search", "count", "count_by_field", "count_by_time", "get"}
    assert proxy.calls
