"""The notice a channel receives and the Chinese templates it renders."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from alerts import format as fmt
from alerts.message import AlertDoc, AlertMessage, digest_id, make_digest

UTC = timezone.utc
FIRED = datetime(2026, 12, 1, 2, 5, tzinfo=UTC)  # 10:05 in Beijing


def doc(i: int = 0, **kw) -> AlertDoc:
    base = dict(title=f"县一中围墙倒塌 多名学生受伤 {i}", source="灌南发布", channel="social",
                url=f"https://weibo.example.cn/p/{i}", published_at=FIRED - timedelta(minutes=i),
                snippet="今天上午县一中围墙倒塌，现场多名学生受伤送医。", risk=0.8)
    base.update(kw)
    return AlertDoc(**base)


def message(n_docs: int = 3, **kw) -> AlertMessage:
    base = dict(alert_id="al-0001", kind="firing", rule="school-wall", rule_name="校园安全频次",
                severity="critical", title="校园围墙倒塌舆情升温",
                reason="2 小时内 12 篇相关报道，超过阈值 10", fired_at=FIRED,
                group={"place": "灌南县"}, count=12,
                window=(FIRED - timedelta(hours=2), FIRED),
                documents=[doc(i) for i in range(n_docs)], link="https://monitor.example/a/1")
    base.update(kw)
    return AlertMessage(**base)


def test_markdown_has_every_part_in_chinese_with_local_times():
    text = fmt.to_markdown(fmt.build(message()))
    assert text.startswith("### 【严重】校园围墙倒塌舆情升温")
    assert "**规则**：校园安全频次（school-wall）" in text
    assert "**原因**：2 小时内 12 篇相关报道，超过阈值 10" in text
    assert "**数量**：12 篇" in text
    assert "**时间窗**：2026-12-01 08:05 至 10:05（北京时间）" in text
    assert "**分组**：地点 灌南县" in text
    assert "**触发时间**：2026-12-01 10:05（北京时间）" in text
    assert ("1. [县一中围墙倒塌 多名学生受伤 0](https://weibo.example.cn/p/0) — 灌南发布 · "
            "社交媒体 / 政务新媒体 · 12-01 10:05 · 风险 0.80") in text
    assert "[查看详情](https://monitor.example/a/1)" in text
    assert text.endswith("告警编号：al-0001")


def test_severity_and_kind_labels():
    assert fmt.title_line(message(severity="info")) == "【提示】校园围墙倒塌舆情升温"
    assert fmt.title_line(message(severity="warning", kind="resolved")).startswith(
        "【已恢复·警告】")
    assert "恢复时间" in fmt.to_text(fmt.build(message(kind="resolved")))
    assert fmt.title_line(message(kind="escalation")).startswith("【升级·严重】")


def test_other_time_zone_is_named():
    text = fmt.to_text(fmt.build(message(timezone="Asia/Urumqi")))
    assert "触发时间：2026-12-01 08:05（Asia/Urumqi）" in text


def test_document_without_title_time_or_usable_link():
    bare = AlertDoc(title="", source="", channel="", url="javascript:alert(1)",
                    published_at=None)
    naive = doc(published_at=datetime(2026, 12, 1, 1, 0))  # naive: read as UTC
    text = fmt.to_markdown(fmt.build(message(documents=[bare, naive])))
    assert "1. （无标题） — 时间不详" in text
    assert "javascript" not in text
    assert "12-01 09:00" in text


def test_scraped_text_cannot_inject_markdown_mentions_or_break_json():
    evil = doc(title="[点我](https://evil.example) <@all> **加粗**\n# 标题 \ud800",
               url="https://example.cn/a b(1)")
    text = fmt.to_markdown(fmt.build(message(documents=[evil])))
    assert "](https://evil.example)" not in text
    assert "<@all>" not in text and "**加粗**" not in text
    assert "\ud800" not in text and "\n# " not in text
    assert "(https://example.cn/a%20b%281%29)" in text
    text.encode("utf-8")  # no lone surrogate left


def test_html_escapes_and_links():
    html = fmt.to_html(fmt.build(message(documents=[doc(title="<script>x</script>")])))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="https://weibo.example.cn/p/0">' in html


@pytest.mark.parametrize("limit", [4096, 2000, 900, 400])
def test_fit_shortens_within_the_limit_and_links_to_the_rest(limit):
    big = message(n_docs=10, documents=[doc(i, snippet="很长的摘要" * 60) for i in range(10)])
    text = fmt.fit(big, fmt.to_markdown, lambda t: fmt.utf8_len(t) <= limit)
    assert fmt.utf8_len(text) <= limit
    assert "al-0001" in text
    if fmt.utf8_len(fmt.to_markdown(fmt.build(big))) > limit:
        assert "https://monitor.example/a/1" in text


def test_fit_counts_the_documents_it_leaves_out():
    big = message(n_docs=10)
    text = fmt.fit(big, fmt.to_markdown, lambda t: fmt.utf8_len(t) <= 1500)
    shown = sum(1 for line in text.splitlines() if line[:3].rstrip(". ").isdigit())
    assert 0 < shown < 10
    # count = 12 documents matched; 10 were handed over as the top ones
    assert f"…另有 {12 - shown} 篇文档未列出，[查看全部](https://monitor.example/a/1)" in text


def test_fit_cuts_a_message_that_is_too_long_even_without_documents():
    huge = message(n_docs=0, reason="原因" * 5000, title="标题" * 3000)
    text = fmt.fit(huge, fmt.to_text, lambda t: len(t) <= 300)
    assert len(text) <= 300
    assert "（内容过长，已截断）https://monitor.example/a/1" in text
    assert text.endswith("告警编号：al-0001")


def test_split_keeps_every_document_in_a_few_pieces():
    big = message(n_docs=8)
    pieces = fmt.split(big, fmt.to_markdown, lambda t: fmt.utf8_len(t) <= 1200, max_pieces=3)
    assert 2 <= len(pieces) <= 3
    assert all(fmt.utf8_len(p) <= 1200 for p in pieces)
    joined = "\n".join(pieces)
    assert all(f"多名学生受伤 {i}]" in joined for i in range(8))
    assert pieces[1].startswith(f"【续 2/{len(pieces)}】告警编号 al-0001")
    # a snippet stays with its document
    for piece in pieces:
        assert not piece.split("\n", 1)[-1].startswith("> ")


def test_split_falls_back_to_shortening_when_too_many_pieces_would_be_needed():
    big = message(n_docs=10)
    pieces = fmt.split(big, fmt.to_markdown, lambda t: fmt.utf8_len(t) <= 700, max_pieces=2)
    assert len(pieces) == 1 and fmt.utf8_len(pieces[0]) <= 700


def test_message_checks_its_facts():
    with pytest.raises(ValueError, match="timezone-aware"):
        message(fired_at=datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="severity"):
        message(severity="严重")
    with pytest.raises(ValueError, match="kind"):
        message(kind="fired")
    with pytest.raises(ValueError, match="time zone"):
        message(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="alert_id"):
        message(alert_id="")


def test_message_round_trips_through_json():
    import json

    original = make_digest([message(), message(alert_id="al-0002", severity="warning")])
    again = AlertMessage.from_dict(json.loads(json.dumps(original.to_dict())))
    assert again == original
    assert again.parts[1].documents[0].published_at == FIRED - timedelta(minutes=0)


def test_notice_id_differs_by_kind_and_time_but_not_by_retry():
    firing = message()
    assert firing.notice_id == message().notice_id
    assert firing.notice_id != message(kind="resolved").notice_id
    assert firing.notice_id != message(fired_at=FIRED + timedelta(hours=1)).notice_id


def test_digest_takes_highest_severity_and_a_stable_id():
    parts = [message(alert_id=f"al-{i}", severity=s) for i, s in
             enumerate(["info", "critical", "warning"])]
    digest = make_digest(parts)
    assert digest.kind == "digest" and digest.severity == "critical"
    assert digest.count == 3 and [p.alert_id for p in digest.parts] == ["al-0", "al-1", "al-2"]
    assert digest.alert_id == digest_id(list(reversed(parts)))  # order does not matter
    assert make_digest([digest, message(alert_id="al-3")]).count == 4  # never nests
    urls = [d.url for d in digest.documents]
    assert len(urls) == len(set(urls))  # one per document
    text = fmt.to_text(fmt.build(digest))
    assert text.startswith("【汇总·严重】3 条告警通知合并发送")
    assert "1. 【提示】校园围墙倒塌舆情升温 — 校园安全频次 · 12 篇 · 12-01 10:05" in text


def test_digest_of_many_parts_lists_some_and_counts_the_rest():
    digest = make_digest([replace(message(), alert_id=f"al-{i}") for i in range(40)],
                         link="https://monitor.example/digest")
    text = fmt.fit(digest, fmt.to_markdown, lambda t: fmt.utf8_len(t) <= 4096)
    assert fmt.utf8_len(text) <= 4096
    assert "条告警未列出，[查看全部](https://monitor.example/digest)" in text
