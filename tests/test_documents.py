"""The document model: deterministic ids and lossless round trips."""
from datetime import datetime, timezone

import pytest

from monitor.documents import Document, Reply, canonical_url, make_doc_id


def test_ids_are_deterministic_and_ignore_url_noise():
    a = make_doc_id("s", url="HTTP://Example.cn:80/a?b=2&a=1#top")
    b = make_doc_id("s", url="http://example.cn/a?a=1&b=2")
    assert a == b
    assert make_doc_id("other", url="http://example.cn/a?a=1&b=2") != a
    assert canonical_url("https://x.cn") == "https://x.cn/"


def test_platform_id_wins_over_url():
    assert make_doc_id("s", url="http://a/1", platform_id="Q1") == \
        make_doc_id("s", url="http://a/2", platform_id="Q1")


def test_id_needs_url_or_platform_id():
    with pytest.raises(ValueError):
        make_doc_id("s")


def test_round_trip_keeps_every_field():
    doc = Document.new(
        "mailbox", "mailbox", "http://a/1", title="加装电梯", text="设计方案没有公示",
        kind="message", author="王**", platform_id="Q2022",
        published_at=datetime(2022, 9, 30, 1, 2, tzinfo=timezone.utc),
        reply=Reply("已转交", "莘庄工业区", datetime(2022, 10, 26, tzinfo=timezone.utc)),
        status="replied", engagement={"views": 3}, analysis={"sentiment": {"score": 0.2}},
        risk=0.5, risk_reasons=["负面"], extra={"site_status": "办结"}, own=True)
    again = Document.from_dict(doc.to_dict())
    assert again == doc
    assert again.replied and again.is_message
    assert again.sentiment == 0.2


def test_content_hash_changes_with_reply():
    doc = Document.new("s", "board", "http://a/1", title="t", text="x", kind="message")
    before = doc.content_hash
    doc.reply = Reply("答复")
    assert doc.content_hash != before
