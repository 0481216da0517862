"""The ingest pipeline: analysis, risk, idempotent storage, and nothing lost."""
from datetime import datetime, timezone

import pytest

from fake_plugins import broken, overrides
from monitor.app import Monitor
from monitor.documents import Document, Reply
from monitor.store import SearchQuery


@pytest.fixture
def monitor(config_dir):
    with Monitor.open(config_dir, entry_points=False) as m:
        yield m


def letter(n: int, text: str = "小区门口道路积水严重，出行困难，请尽快处理", **kw) -> Document:
    return Document.new("mailbox", "mailbox", f"http://127.0.0.1/m/{n}.html", kind="message",
                        title=f"关于道路积水的反映{n}", text=text,
                        published_at=datetime(2026, 11, 20, 1, n % 60, tzinfo=timezone.utc), **kw)


def test_documents_are_analysed_scored_and_stored(monitor):
    stats = monitor.ingest([letter(1), letter(2, reply=Reply("已安排清理", "住建局"))])
    assert (stats.received, stats.inserted, stats.skipped) == (2, 2, 0)
    assert stats.newest_published_at == letter(2).published_at  # the source cursor
    assert stats.to_dict()["newest_published_at"] == "2026-11-20T01:02:00+00:00"
    stored = monitor.store.get(letter(1).id)
    assert stored.analysis["topics"]  # the topics plugin ran
    assert stored.risk is not None and stored.risk_reasons
    unanswered = monitor.store.search(SearchQuery(replied=False, kinds=["message"]))
    assert [h.document.id for h in unanswered.hits] == [letter(1).id]


def test_recrawl_is_unchanged_and_a_changed_page_updates(monitor):
    monitor.ingest([letter(1), letter(2)])
    again = monitor.ingest([letter(1), letter(2)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    replied = letter(1, reply=Reply("已处理", "城管局"))
    changed = monitor.ingest([replied])
    assert (changed.inserted, changed.updated) == (0, 1)
    assert monitor.store.get(replied.id).replied
    assert monitor.store.count(None) == 2


def test_a_failing_plugin_never_loses_the_document(monitor):
    overrides.stored.clear()
    monitor.plugins.register(broken, "broken")
    monitor.plugins.register(overrides, "overrides")
    stats = monitor.ingest([letter(3), letter(4)])
    assert stats.inserted == 2
    assert stats.plugin_failures == {"broken.analyze_document": 2, "broken.rank_risk": 2,
                                     "broken.document_stored": 2}
    doc = monitor.store.get(letter(3).id)
    assert doc.analysis["length"] == {"chars": len(letter(3).text)}
    assert doc.risk is not None  # the built-in scorer stepped in
    assert sorted(overrides.stored) == sorted([(letter(3).id, "inserted"),
                                               (letter(4).id, "inserted")])


def test_risk_override_plugin_wins(monitor):
    monitor.plugins.register(overrides, "overrides")
    d = letter(5)
    d.title = "override this"
    monitor.ingest([d])
    assert monitor.store.get(d.id).risk == pytest.approx(0.99)


def test_invalid_documents_are_counted_not_dropped_silently(monitor):
    empty = Document.new("s", "news", "http://a/empty")
    wrong_channel = Document.new("s", "telegram", "http://a/x", title="t")
    naive = Document.new("s", "news", "http://a/naive", title="t",
                         published_at=datetime(2026, 1, 1))
    stats = monitor.ingest([empty, wrong_channel, naive, "not a document", letter(6)])
    assert stats.received == 5 and stats.inserted == 1 and stats.skipped == 4
    assert stats.skip_reasons["empty: no title, text or reply"] == 1
    assert stats.skip_reasons["unknown channel 'telegram'"] == 1
    assert stats.skip_reasons["published_at has no time zone"] == 1


def test_recrawl_rescores_risk_and_keeps_a_relative_date(monitor):
    post = Document.new("weibo", "social", "http://a/post", kind="post", title="",
                        text="学校围墙倒塌，有学生受伤", engagement={"reposts": 1},
                        published_at=datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc),
                        extra={"date_relative": True})
    monitor.ingest([post])
    first = monitor.store.get(post.id)
    again = Document.from_dict(first.to_dict())
    again.engagement = {"reposts": 50_000}  # it is spreading
    again.published_at = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)  # "3小时前" re-read
    monitor.ingest([again])
    second = monitor.store.get(post.id)
    assert second.risk > first.risk
    assert second.published_at == first.published_at
    assert second.analysis == first.analysis
