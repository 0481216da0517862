"""Contract tests of the document store: every backend must pass them.

The ``store`` fixture is parametrised over backends; only ``embedded`` exists today.  A new
backend joins by adding a factory to ``BACKENDS`` (and skipping there when its server is
unavailable).  Tests of file handling that only make sense for SQLite are at the end.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import pytest

from monitor.documents import Document, Reply
from monitor.errors import StoreError
from monitor.store import (COUNT_FIELDS, INSERTED, UNCHANGED, UPDATED, SearchQuery, Store,
                           StoreConfig, open_store)
from monitor.store.embedded import EmbeddedStore

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _embedded(tmp_path: Path, name: str = "docs") -> Store:
    return EmbeddedStore(StoreConfig(path=tmp_path / "data" / f"{name}.db"))


BACKENDS: dict[str, Callable[[Path, str], Store]] = {"embedded": _embedded}


@pytest.fixture(params=sorted(BACKENDS))
def make_store(request, tmp_path):
    """``make_store(name)`` opens a store of the current backend; all are closed at the end."""
    opened: list[Store] = []

    def _make(name: str = "docs") -> Store:
        store = BACKENDS[request.param](tmp_path, name)
        opened.append(store)
        return store

    yield _make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store) -> Store:
    """An empty store of the current backend."""
    return make_store()


def doc(name: str, channel: str = "news", **fields) -> Document:
    """A document whose id is derived from ``name`` (used as the platform id)."""
    fields.setdefault("source", "src-" + channel)
    fields.setdefault("crawled_at", datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    if channel in ("mailbox", "board", "hotline"):
        fields.setdefault("kind", "message")
    source = fields.pop("source")
    return Document.new(source, channel, f"https://example.gov.cn/{name}", platform_id=name,
                        **fields)


def _sent(score: float, label: str) -> dict:
    return {"sentiment": {"score": score, "label": label}}


def corpus() -> dict[str, Document]:
    """Six documents covering every channel kind, filter and time-zone edge."""
    return {
        "metro": doc("metro", "board", source="board-a", title="地铁站早高峰太拥挤",
                     text="市民投诉：地铁三号线早高峰拥挤不堪，希望增加班次。",
                     reply=Reply("已转交地铁公司研究增加班次。", "交通局",
                                 datetime(2026, 11, 28, 2, 0, tzinfo=UTC)),
                     status="replied", department="交通局", place="A市",
                     published_at=datetime(2026, 11, 27, 17, 30, tzinfo=UTC),
                     analysis=_sent(0.2, "negative"), risk=0.7),
        "noise": doc("noise", "hotline", source="hotline-a", title="夜间施工噪音扰民",
                     text="小区旁工地夜间施工噪音很大，投诉多次无果。", status="pending",
                     department="住建局", place="A市",
                     published_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
                     analysis=_sent(0.1, "negative"), risk=0.9),
        "water": doc("water", "mailbox", source="mailbox-a", title="停水何时恢复",
                     text="我们小区停水两天了，没有任何通知。", status="pending",
                     department="水务局", crawled_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
        "news": doc("news", "news", source="news-a", title="市政府召开地铁建设新闻发布会",
                    text="会上介绍了地铁公司新线路的建设进展，中华人民共和国成立以来变化很大。",
                    place="A市", published_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
                    analysis=_sent(0.8, "positive"), risk=0.1),
        "own": doc("own", "social", source="weibo-own", kind="post", own=True,
                   text="【提醒】今日起地铁延长运营时间，欢迎市民出行。",
                   published_at=datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
                   analysis=_sent(0.9, "positive"), risk=0.0),
        "latin": doc("latin", "portal", source="portal-a", title="COVID-19 vaccination plan",
                     text="The city announced a vaccination plan. 疫苗接种点已经开放。",
                     published_at=datetime(2026, 10, 31, 20, 0, tzinfo=UTC),
                     analysis=_sent(0.6, "neutral")),
    }


@pytest.fixture
def filled(store) -> tuple[Store, dict[str, Document]]:
    """The store holding :func:`corpus`, and the documents by name."""
    docs = corpus()
    assert store.put_many(docs.values()) == {INSERTED: 6, UPDATED: 0, UNCHANGED: 0}
    return store, docs


def names(result_or_hits, docs: dict[str, Document]) -> list[str]:
    """Names of the documents in a SearchResult, in order."""
    by_id = {d.id: n for n, d in docs.items()}
    return [by_id[h.document.id] for h in result_or_hits.hits]


def found(store: Store, docs: dict[str, Document], **query) -> set[str]:
    """Names of every document matching ``SearchQuery(**query)``."""
    return set(names(store.search(SearchQuery(limit=100, **query)), docs))


# -- storing and reading back ------------------------------------------------------------


def test_round_trip_keeps_every_field(store):
    original = Document.new(
        "board-a", "board", "https://example.gov.cn/letter?id=7", title="关于小区停车难的问题",
        text="停车位不足，  晚上车辆乱停。\n请尽快处理", kind="message", author="市民王某",
        published_at=datetime(2026, 11, 28, 9, 15, 30, 123456, tzinfo=SHANGHAI),
        crawled_at=datetime(2026, 11, 28, 3, 0, tzinfo=UTC), place="A市A2区",
        department="交通局", engagement={"likes": 12, "comments": 3, "views": 4567},
        reply=Reply("已安排交警加强巡查。", "A市交通局",
                    datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI)),
        status="replied", platform_id="2026-000123", own=True,
        analysis={"sentiment": {"score": 0.25, "label": "negative"},
                  "topics": ["交通", "停车"], "nested": {"a": [1, 2.5, None, True]}},
        risk=0.66, risk_reasons=["negative", "many likes"],
        extra={"votes_against": 2, "raw": {"编号": "X-1"}})
    assert store.put(original) == INSERTED
    back = store.get(original.id)
    assert back == original
    assert back.to_dict() == original.to_dict()
    assert back.published_at.utcoffset() == timedelta(0)  # stored in UTC, same instant
    assert back.reply.replied_at == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert store.get("no-such-id") is None


def test_document_without_reply_or_date_round_trips(store):
    original = doc("bare", "news", title="标题")
    store.put(original)
    back = store.get(original.id)
    assert back == original and back.reply is None and back.published_at is None


def test_upsert_insert_unchanged_updated(store):
    original = doc("letter", "mailbox", title="路灯不亮", text="小区路灯坏了一个月。")
    assert store.put(original) == INSERTED
    assert store.put(doc("letter", "mailbox", title="路灯不亮", text="小区路灯坏了一个月。")) \
        == UNCHANGED
    assert store.count() == 1
    changed = doc("letter", "mailbox", title="路灯不亮", text="小区路灯已经坏了两个月。")
    assert store.put(changed) == UPDATED
    assert store.get(original.id).text == "小区路灯已经坏了两个月。"
    assert store.count() == 1
    # the full-text index follows the new text
    assert store.count(SearchQuery(text="两个月")) == 1
    assert store.count(SearchQuery(text="一个月")) == 0
    # analysis and risk changes are updates too, re-putting them is not
    analysed = doc("letter", "mailbox", title="路灯不亮", text="小区路灯已经坏了两个月。",
                   analysis=_sent(0.3, "negative"))
    assert store.put(analysed) == UPDATED
    analysed.risk = 0.5
    assert store.put(analysed) == UPDATED
    assert store.put(analysed) == UNCHANGED
    assert store.get(original.id).risk == 0.5
    assert store.count(SearchQuery(text="路灯")) == 1


def test_reply_arriving_updates_search_and_flags(store):
    pending = doc("ask", "board", title="公交站牌破损", text="站牌被风吹倒", status="pending")
    store.put(pending)
    assert store.count(SearchQuery(replied=False)) == 1
    answered = doc("ask", "board", title="公交站牌破损", text="站牌被风吹倒", status="replied",
                   reply=Reply("已联系公交集团修复站牌"))
    assert store.put(answered) == UPDATED
    assert store.count(SearchQuery(replied=True)) == 1
    assert store.count(SearchQuery(replied=False)) == 0
    assert store.count(SearchQuery(text="公交集团")) == 1


def test_put_many_counts_and_duplicates_in_one_batch(store):
    first = [doc(f"n{i}", "news", title=f"第{i}条新闻", text="城市管理") for i in range(1100)]
    assert store.put_many(first) == {INSERTED: 1100, UPDATED: 0, UNCHANGED: 0}
    again = [doc(f"n{i}", "news", title=f"第{i}条新闻", text="城市管理") for i in range(5)]
    again.append(doc("n1", "news", title="第1条新闻", text="城市管理更新"))
    again.append(doc("new", "news", title="新的", text="一"))
    again.append(doc("new", "news", title="新的", text="二"))
    assert store.put_many(again) == {INSERTED: 1, UPDATED: 2, UNCHANGED: 5}
    assert store.count() == 1101
    assert store.get(doc("new", "news").id).text == "二"
    assert store.count(SearchQuery(text="更新")) == 1
    assert store.count(SearchQuery(text="新的")) == 1
    assert store.put_many([]) == {INSERTED: 0, UPDATED: 0, UNCHANGED: 0}


def test_put_many_is_one_transaction(store):
    good = doc("ok", "news", title="正常")
    with pytest.raises(StoreError, match="Document"):
        store.put_many([good, "not a document"])
    assert store.get(good.id) is None
    assert store.count() == 0


def test_reopen_keeps_documents_and_close_is_idempotent(make_store):
    first = make_store("persist")
    first.put_many(corpus().values())
    first.close()
    first.close()
    with pytest.raises(StoreError):
        first.count()
    second = make_store("persist")
    assert second.count() == 6
    assert second.count(SearchQuery(text="噪音")) == 1


def test_threads_can_share_a_store(store):
    def work(k: int) -> None:
        store.put_many(doc(f"t{k}-{i}", "social", text=f"线程{k}写入第{i}条") for i in range(30))
        store.search(SearchQuery(text="线程"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 120


# -- full-text search ----------------------------------------------------------------------


def test_two_character_chinese_words_match(filled):
    store, docs = filled
    assert found(store, docs, text="投诉") == {"metro", "noise"}
    assert found(store, docs, text="地铁") == {"metro", "news", "own"}
    assert found(store, docs, text="噪音") == {"noise"}
    assert found(store, docs, text="停水") == {"water"}


def test_words_inside_longer_words_match(filled):
    store, docs = filled
    assert "news" in found(store, docs, text="人民")  # inside 中华人民共和国
    assert found(store, docs, text="接种") == {"latin"}  # inside 疫苗接种点
    assert "metro" in found(store, docs, text="地铁站")


def test_query_words_cut_differently_from_the_document_still_match(store):
    a = doc("a", "board", text="北京地铁站人太多")  # cut as 北京 / 地铁站
    b = doc("b", "board", text="新冠肺炎疫情防控")
    c = doc("c", "board", text="新型冠状病毒肺炎")
    store.put_many([a, b, c])
    docs = {"a": a, "b": b, "c": c}
    assert found(store, docs, text="北京地铁") == {"a"}
    assert found(store, docs, text='"北京地铁站"') == {"a"}
    assert found(store, docs, text="新冠肺炎") == {"b"}  # not the long form: word-based search
    assert found(store, docs, text="肺炎") == {"b", "c"}


def test_single_character_query_finds_words_starting_with_it(store):
    a = doc("a", "board", text="药品价格太高")
    b = doc("b", "board", text="买不到药")
    c = doc("c", "board", text="医保报销")
    store.put_many([a, b, c])
    assert found(store, {"a": a, "b": b, "c": c}, text="药") == {"a", "b"}


def test_search_covers_title_text_and_reply(filled):
    store, docs = filled
    assert found(store, docs, text="扰民") == {"noise"}  # title only
    assert found(store, docs, text="转交") == {"metro"}  # reply only
    assert found(store, docs, text="vaccination") == {"latin"}
    assert found(store, docs, text="COVID") == {"latin"}
    assert found(store, docs, text="covid-19") == {"latin"}


def test_words_are_anded(filled):
    store, docs = filled
    assert found(store, docs, text="地铁 投诉") == {"metro"}
    assert found(store, docs, text="小区 停水") == {"water"}
    assert found(store, docs, text="地铁 停水") == set()


def test_quoted_phrases(tmp_path, store):
    a = doc("a", "board", text="请地铁公司回复")
    b = doc("b", "board", text="公司在地铁站附近")
    store.put_many([a, b])
    docs = {"a": a, "b": b}
    assert found(store, docs, text="地铁 公司") == {"a", "b"}
    assert found(store, docs, text='"地铁公司"') == {"a"}
    assert found(store, docs, text="“地铁公司”") == {"a"}  # Chinese quotes
    assert found(store, docs, text='"在地铁"') == {"b"}
    assert found(store, docs, text='"公司 地铁"') == set()
    assert found(store, docs, text='"附近 地铁"') == set()


def test_or(filled):
    store, docs = filled
    assert found(store, docs, text="噪音 OR 停水") == {"noise", "water"}
    assert found(store, docs, text="投诉 噪音 OR 停水") == {"noise"}
    assert found(store, docs, text="地铁 OR 噪音 OR 疫苗") == {"metro", "news", "own", "noise",
                                                             "latin"}
    assert found(store, docs, text="OR 噪音 OR") == {"noise"}


HOSTILE = ['"', '""', '"""', "*", "(", ")", "-", ":", "AND", "OR", "NOT", "NEAR", "^",
           "NEAR(a b, 2)", "{title}:", "title:", "'", "\\", "%", "_", "+", "OR OR OR", "( ) *",
           "，。！？", "——", "【】", "\x00", "😀", ";--", "' OR 1=1 --", "\"'\"'",
           "* OR *", "-(", ")(", "NOT NOT", "a" * 2000]

HOSTILE_WITH_WORD = ['地铁"', '"地铁', "地铁*", "地铁:", ":地铁", "{}: 地铁", "(((地铁", "地铁)",
                     "^地铁", "地铁 +", "(地铁)", "地铁 OR", "AND 地铁", "地铁 AND",
                     "';--地铁", "😀地铁", "地铁\x00", "地铁 - 投诉", "“地铁", "地铁”", "「地铁」"]

# Latin words that are FTS5 syntax elsewhere are plain words here: they must be searched for.
OPERATOR_WORDS = ["title:地铁", "{title}: 地铁", "NEAR(地铁)", "NOT 地铁",
                  "'; DROP TABLE documents; --地铁", "地铁 NEAR/2 投诉"]
# (exclusions, "-地铁" and "地铁 NOT …", are tested in test_search_syntax.py)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_without_words_find_nothing(filled, text):
    store, docs = filled
    result = store.search(SearchQuery(text=text))
    assert result.total == 0 and result.hits == []
    assert store.count(SearchQuery(text=text)) == 0
    assert store.count_by_field(SearchQuery(text=text), "channel") == {}
    assert store.count_by_time(SearchQuery(text=text)) == []


@pytest.mark.parametrize("text", HOSTILE_WITH_WORD)
def test_hostile_queries_with_a_word_still_search(filled, text):
    store, docs = filled
    assert "metro" in found(store, docs, text=text)
    assert store.count() == 6  # nothing was dropped


@pytest.mark.parametrize("text", OPERATOR_WORDS)
def test_operator_words_are_plain_words(filled, text):
    store, docs = filled
    assert found(store, docs, text=text) == set()  # no document holds title/NEAR/NOT/DROP
    assert store.count() == 6


def test_whitespace_only_text_is_no_text_filter(filled):
    store, _ = filled
    assert store.search(SearchQuery(text=" \u3000\t")).total == 6


def test_snippet_marks_matches_without_segmentation_spaces(filled):
    store, docs = filled
    hit = store.search(SearchQuery(text="投诉", sources=["board-a"])).hits[0]
    assert "【投诉】" in hit.snippet
    assert "地铁三号线早高峰拥挤不堪" in hit.snippet
    assert " " not in hit.snippet
    reply_hit = store.search(SearchQuery(text="转交")).hits[0]
    assert "【转交】" in reply_hit.snippet
    latin = store.search(SearchQuery(text="vaccination")).hits[0]
    assert "【vaccination】 plan" in latin.snippet
    inner = store.search(SearchQuery(text="接种")).hits[0]
    assert "接种" in inner.snippet
    own = store.search(SearchQuery(text="延长")).hits[0]
    assert own.snippet.startswith("【提醒】")  # the document's own brackets survive
    assert "【延长】" in own.snippet


def test_hits_without_text_have_a_plain_snippet(filled):
    store, docs = filled
    hit = store.search(SearchQuery(sources=["hotline-a"])).hits[0]
    assert hit.snippet.startswith("小区旁工地夜间施工噪音很大")
    assert hit.score is None


# -- filters -------------------------------------------------------------------------------


def test_filters_by_source_channel_kind(filled):
    store, docs = filled
    assert found(store, docs, sources=["board-a", "news-a"]) == {"metro", "news"}
    assert found(store, docs, channels=["hotline", "mailbox"]) == {"noise", "water"}
    assert found(store, docs, kinds=["message"]) == {"metro", "noise", "water"}
    assert found(store, docs, kinds=["post"]) == {"own"}
    assert found(store, docs, sources=["nope"]) == set()
    assert found(store, docs, text="地铁", channels=["news", "social"]) == {"news", "own"}


def test_filters_by_place_and_department(filled):
    store, docs = filled
    assert found(store, docs, places=["A市"]) == {"metro", "noise", "news"}
    assert found(store, docs, places=["A市", "B县"], kinds=["message"]) == {"metro", "noise"}
    assert found(store, docs, departments=["住建局", "水务局"]) == {"noise", "water"}
    assert found(store, docs, departments=["交通局"], places=["A市"]) == {"metro"}
    assert found(store, docs, text="地铁", places=["A市"]) == {"metro", "news"}
    assert found(store, docs, places=["B县"]) == set()
    assert store.count(SearchQuery(places=["A市"], departments=["住建局"])) == 1
    assert store.count_by_field(SearchQuery(places=["A市"]), "department") == {
        "交通局": 1, "住建局": 1}


def test_time_filters_use_published_then_crawled(filled):
    store, docs = filled
    since = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    # water has no published_at; its crawled_at is exactly ``since`` (inclusive)
    assert found(store, docs, since=since) == {"water", "noise", "metro", "own"}
    assert found(store, docs, until=since) == {"news", "latin"}  # until is exclusive
    assert found(store, docs, since=datetime(2026, 11, 28, 1, 0, tzinfo=SHANGHAI),
                 until=datetime(2026, 11, 28, 2, 0, tzinfo=SHANGHAI)) == {"metro"}
    assert found(store, docs, text="地铁", since=datetime(2026, 11, 28, tzinfo=UTC)) == {"own"}


def test_sentiment_risk_replied_own_filters(filled):
    store, docs = filled
    assert found(store, docs, max_sentiment=0.2) == {"metro", "noise"}
    assert found(store, docs, min_sentiment=0.6) == {"news", "own", "latin"}
    assert found(store, docs, min_sentiment=0.15, max_sentiment=0.65) == {"metro", "latin"}
    assert found(store, docs, min_risk=0.7) == {"metro", "noise"}
    assert found(store, docs, min_risk=0.0) == {"metro", "noise", "news", "own"}
    assert found(store, docs, replied=True) == {"metro"}
    assert found(store, docs, replied=False) == {"noise", "water"}  # messages only
    assert found(store, docs, own=True) == {"own"}
    assert found(store, docs, own=False) == set(docs) - {"own"}
    assert found(store, docs, text="投诉", replied=False, min_risk=0.5) == {"noise"}


# -- sorting and paging ----------------------------------------------------------------------


def test_sorts(filled):
    store, docs = filled

    def order(sort: str, **query) -> list[str]:
        return names(store.search(SearchQuery(sort=sort, limit=50, **query)), docs)

    newest = ["own", "metro", "noise", "water", "news", "latin"]
    assert order("newest") == newest
    assert order("oldest") == newest[::-1]
    assert order("relevance") == newest  # no text: newest first
    assert order("risk") == ["noise", "metro", "news", "own", "water", "latin"]
    assert order("negative") == ["noise", "metro", "latin", "news", "own", "water"]
    assert order("newest", text="地铁") == ["own", "metro", "news"]
    assert order("risk", text="地铁") == ["metro", "news", "own"]
    with pytest.raises(StoreError, match="sort"):
        store.search(SearchQuery(sort="popular"))


def test_relevance_ranks_the_best_match_first(store):
    strong = doc("strong", "news", title="投诉处理情况通报", text="本月投诉数量下降，投诉办结率提高。")
    weak = doc("weak", "news", title="城市建设新闻",
               text="今年城市建设取得进展，道路、桥梁、公园陆续完工，另有一件投诉正在处理，"
                    "交通、教育、医疗方面也有新的安排和计划。",
               published_at=datetime(2026, 11, 28, tzinfo=UTC))
    other = doc("other", "news", title="天气预报", text="明天晴")
    store.put_many([weak, strong, other])
    result = store.search(SearchQuery(text="投诉"))
    assert [h.document.id for h in result.hits] == [strong.id, weak.id]
    assert result.hits[0].score > result.hits[1].score


def test_paging(store):
    docs = {f"p{i}": doc(f"p{i}", "social", text=f"第{i}条关于供暖的帖子",
                         published_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i))
            for i in range(25)}
    store.put_many(docs.values())
    pages = [store.search(SearchQuery(text="供暖", sort="oldest", limit=10, offset=o))
             for o in (0, 10, 20, 30)]
    assert [p.total for p in pages] == [25, 25, 25, 25]
    assert [len(p.hits) for p in pages] == [10, 10, 5, 0]
    seen = [n for p in pages for n in names(p, docs)]
    assert seen == [f"p{i}" for i in range(25)]
    zero = store.search(SearchQuery(limit=0))
    assert zero.total == 25 and zero.hits == []
    with pytest.raises(StoreError):
        store.search(SearchQuery(limit=-1))
    with pytest.raises(StoreError):
        store.search(SearchQuery(offset=-5))


# -- counting ------------------------------------------------------------------------------


def test_count(filled):
    store, _ = filled
    assert store.count() == 6
    assert store.count(None) == 6
    assert store.count(SearchQuery(text="地铁")) == 3
    assert store.count(SearchQuery(channels=["board"], text="地铁")) == 1


def test_count_by_day_in_time_zone(filled):
    store, _ = filled
    days = store.count_by_time(None, "day", "Asia/Shanghai")
    assert days[0] == ("2026-11-01", 1)  # 2026-10-31T20:00Z
    assert days[-1] == ("2026-11-28", 2)  # metro at 2026-11-27T17:30Z and own
    assert len(days) == 28  # empty days are listed with 0
    assert dict(days)["2026-11-27"] == 0
    assert dict(days)["2026-11-25"] == 1  # water: no published_at, counted at crawled_at
    assert sum(n for _, n in days) == 6
    utc = dict(store.count_by_time(None, "day", "UTC"))
    assert utc["2026-10-31"] == 1 and utc["2026-11-27"] == 1 and utc["2026-11-28"] == 1


def test_count_by_hour_week_month(filled):
    store, _ = filled
    q = SearchQuery(text="地铁", since=datetime(2026, 11, 27, tzinfo=UTC))
    hours = store.count_by_time(q, "hour", "Asia/Shanghai")
    assert hours[0] == ("2026-11-28 01:00", 1) and hours[-1] == ("2026-11-28 11:00", 1)
    assert len(hours) == 11 and sum(n for _, n in hours) == 2
    kolkata = store.count_by_time(q, "hour", "Asia/Kolkata")  # +05:30
    assert kolkata[0] == ("2026-11-27 23:00", 1) and kolkata[-1] == ("2026-11-28 08:00", 1)
    weeks = store.count_by_time(None, "week", "Asia/Shanghai")
    assert weeks[0] == ("2026-W44", 1) and weeks[-1] == ("2026-W48", 4)
    assert [w for w, _ in weeks] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47",
                                     "2026-W48"]
    assert store.count_by_time(None, "month", "Asia/Shanghai") == [("2026-11", 6)]
    assert store.count_by_time(None, "month", "UTC") == [("2026-10", 1), ("2026-11", 5)]
    assert store.count_by_time(SearchQuery(sources=["nope"]), "day") == []


def test_count_by_time_rejects_bad_interval_and_zone(filled):
    store, _ = filled
    with pytest.raises(StoreError, match="interval"):
        store.count_by_time(None, "minute")
    with pytest.raises(StoreError, match="time zone"):
        store.count_by_time(None, "day", "Mars/Olympus")


def test_count_by_field(filled):
    store, _ = filled
    assert store.count_by_field(None, "channel") == {
        "board": 1, "hotline": 1, "mailbox": 1, "news": 1, "portal": 1, "social": 1}
    assert store.count_by_field(None, "kind") == {"article": 2, "message": 3, "post": 1}
    assert list(store.count_by_field(None, "kind")) == ["message", "article", "post"]
    assert store.count_by_field(None, "status") == {"pending": 2, "replied": 1}
    assert store.count_by_field(None, "department") == {"交通局": 1, "住建局": 1, "水务局": 1}
    assert store.count_by_field(None, "place") == {"A市": 3}
    assert store.count_by_field(None, "sentiment_label") == {
        "negative": 2, "positive": 2, "neutral": 1}
    assert store.count_by_field(SearchQuery(text="投诉"), "source") == {
        "board-a": 1, "hotline-a": 1}
    for field in COUNT_FIELDS:
        assert isinstance(store.count_by_field(None, field), dict)
    with pytest.raises(StoreError, match="count by"):
        store.count_by_field(None, "author")


# -- embedded backend: files ----------------------------------------------------------------


def test_open_store_creates_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "documents.db"
    store = open_store(StoreConfig(backend="embedded", path=path))
    try:
        assert isinstance(store, EmbeddedStore) and isinstance(store, Store)
        store.put(doc("x", "news", title="测试"))
        assert path.exists()
        with closing(sqlite3.connect(path)) as conn:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_a_file_that_is_not_sqlite_raises_store_error(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("this is not a database " * 100, encoding="utf-8")
    with pytest.raises(StoreError, match="notes.db"):
        EmbeddedStore(StoreConfig(path=bad))


def test_another_sqlite_database_is_refused(tmp_path):
    other = tmp_path / "state.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE incidents (id INTEGER PRIMARY KEY)")
        conn.commit()
    with pytest.raises(StoreError, match="state.db"):
        EmbeddedStore(StoreConfig(path=other))
    with closing(sqlite3.connect(other)) as conn:  # and it was left alone
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"incidents"}


def test_a_folder_as_path_raises_store_error(tmp_path):
    with pytest.raises(StoreError, match=str(tmp_path.name)):
        EmbeddedStore(StoreConfig(path=tmp_path))


def test_in_memory_when_no_path():
    with EmbeddedStore(StoreConfig(path=None)) as store:
        store.put(doc("m", "news", title="内存"))
        assert store.count(SearchQuery(text="内存")) == 1


def test_values_json_cannot_hold_are_stored_as_text(tmp_path):
    odd = doc("odd", "news", title="奇怪的值",
              extra={"seen": datetime(2026, 11, 28, tzinfo=UTC), "tags": {"b", "a"}},
              analysis={"obj": Reply("嵌套")})
    with EmbeddedStore(StoreConfig(path=tmp_path / "odd.db")) as store:
        assert store.put(odd) == INSERTED
        back = store.get(odd.id)
        assert back.extra == {"seen": "2026-11-28T00:00:00+00:00", "tags": ["a", "b"]}
        assert back.analysis == {"obj": {"text": "嵌套", "unit": None, "replied_at": None}}
        assert store.put(odd) == UNCHANGED


def test_index_built_by_another_segmenter_is_reported_and_rebuilt(tmp_path, caplog):
    path = tmp_path / "r.db"
    with EmbeddedStore(StoreConfig(path=path)) as store:
        store.put_many(corpus().values())
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE store_meta SET value = 'jieba-0.1' WHERE key = 'segmenter'")
        conn.commit()
    with caplog.at_level("WARNING", logger="monitor.store.embedded"):
        store = EmbeddedStore(StoreConfig(path=path))  # rebuilt on opening
    assert "rebuilding it" in caplog.text
    with store:
        assert store.count(SearchQuery(text="地铁")) == 3
        assert store.count(SearchQuery(text="转交")) == 1
        assert store.check_integrity() == []
        assert store.rebuild_index() == 6  # by hand, too
        assert store.rebuild_index(only_if_stale=True) == 0
    caplog.clear()
    with caplog.at_level("WARNING", logger="monitor.store.embedded"):
        EmbeddedStore(StoreConfig(path=path)).close()
    assert "rebuilding" not in caplog.text


def test_unsupported_schema_version_is_refused(tmp_path):
    path = tmp_path / "v.db"
    EmbeddedStore(StoreConfig(path=path)).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
        conn.commit()
    with pytest.raises(StoreError, match="schema"):
        EmbeddedStore(StoreConfig(path=path))
