"""A later crawl never replaces stored content with less; taken-down pages are marked withdrawn;
a batch the store cannot take now is spooled and written later."""
from datetime import datetime, timezone

import pytest

from monitor.app import Monitor
from monitor.documents import Document, Gone, Reply
from monitor.errors import StoreBusy
from monitor.store import SearchQuery
from monitor.withdrawal import error_page, less_than

TEXT = "小区门口道路积水严重，雨后一周仍未排干，老人孩子出行困难，请尽快安排处理。"
WHEN = datetime(2026, 11, 20, 1, 30, tzinfo=timezone.utc)


@pytest.fixture
def monitor(config_dir):
    with Monitor.open(config_dir, entry_points=False) as m:
        yield m


def letter(n: int = 1, text: str = TEXT, title: str = "关于道路积水的反映", **kw) -> Document:
    kw.setdefault("published_at", WHEN)
    return Document.new("mailbox", "mailbox", f"http://127.0.0.1/m/{n}.html", kind="message",
                        title=title, text=text, **kw)


@pytest.mark.parametrize("title,text", [
    ("404 页面不存在", "抱歉，您访问的页面不存在或已被删除"),
    ("提示信息", "抱歉，您访问的页面不存在或已被删除！返回首页"),
    ("404 Not Found", ""),
    ("页面未找到 - 某某县人民政府", "页面未找到，3秒后返回首页"),
    ("该信件不存在", "该信件不存在"),
])
def test_error_pages_are_recognised(title, text):
    assert error_page(letter(title=title, text=text))


@pytest.mark.parametrize("title,text", [
    ("关于道路积水的反映", TEXT),
    ("404名考生参加公务员面试", "今年共有404名考生进入面试环节，面试将于下周举行。"),
    ("", "我昨天发的那条微博已被删除了吗？怎么找不到了"),
    ("网友质疑：举报帖子已被删除", TEXT * 3 + "有网友称相关帖子已被删除。"),
])
def test_ordinary_pages_are_not_error_pages(title, text):
    assert error_page(letter(title=title, text=text)) is None


def test_less_than():
    old = letter(reply=Reply("已转交住建局处理", "县政府办"))
    assert less_than(letter(text=""), old) == "text is empty now"
    assert less_than(letter(title=""), old) == "title is empty now"
    assert less_than(letter(), old) == "the reply is gone"
    long = letter(text=TEXT * 2, reply=old.reply)
    assert less_than(letter(text=TEXT[:20], reply=old.reply), long) == "text shrank to under half"
    assert less_than(letter(text=TEXT + "补充说明", reply=old.reply), old) is None


def test_an_empty_recrawl_keeps_the_stored_text_and_is_kept_aside(monitor):
    monitor.ingest([letter()])
    stats = monitor.ingest([letter(text="")])
    assert (stats.updated, stats.kept_aside) == (0, 1)
    assert stats.to_dict()["kept_aside_reasons"] == {"text is empty now": 1}
    assert monitor.store.get(letter().id).text == TEXT
    assert monitor.store.search(SearchQuery(text="积水")).total == 1
    kept = monitor.store.kept_aside(letter().id)
    assert kept and kept[0][2].text == "" and kept[0][1] == "text is empty now"


def test_a_soft_error_page_marks_the_document_withdrawn_and_keeps_it(monitor):
    monitor.ingest([letter()])
    gone = letter(title="404 页面不存在", text="抱歉，您访问的页面不存在或已被删除",
                  published_at=None)
    stats = monitor.ingest([gone])
    assert (stats.withdrawn, stats.updated, stats.inserted) == (1, 0, 0)
    stored = monitor.store.get(letter().id)
    assert stored.title == "关于道路积水的反映" and stored.text == TEXT
    assert stored.published_at == WHEN  # the date is not set to NULL
    first_missing = stored.withdrawn_at
    assert first_missing is not None
    again = monitor.ingest([gone])  # still gone: the first time it was missed stays
    assert again.withdrawn == 0
    assert monitor.store.get(letter().id).withdrawn_at == first_missing
    back = monitor.ingest([letter()])
    assert back.restored == 1
    assert monitor.store.get(letter().id).withdrawn_at is None


def test_an_error_page_never_collected_is_skipped_with_a_reason(monitor):
    stats = monitor.ingest([letter(title="404 页面不存在", text="抱歉，您访问的页面不存在")])
    assert stats.skipped == 1 and any("error page" in r for r in stats.skip_reasons)
    assert monitor.store.count() == 0


def test_a_page_answering_404_marks_the_stored_document_withdrawn(monitor):
    doc = letter(platform_id="XZ-0042")  # id from the letter number, not the URL
    monitor.ingest([doc])
    seen = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    from monitor.pipeline import Ingestor

    with Ingestor(monitor) as ingestor:
        ingestor.add(Gone("mailbox", doc.url, status=404, seen_at=seen))
        ingestor.add(Gone("mailbox", "http://127.0.0.1/m/never.html", status=404))
    assert ingestor.stats.withdrawn == 1
    assert monitor.store.get(doc.id).withdrawn_at == seen


def test_a_lost_date_or_unit_is_carried_over(monitor):
    monitor.ingest([letter(department="住建局")])
    stats = monitor.ingest([letter(text=TEXT + "（已补充照片）", published_at=None)])
    stored = monitor.store.get(letter().id)
    assert stats.updated == 1 and stored.text.endswith("（已补充照片）")
    assert stored.published_at == WHEN and stored.department == "住建局"
    assert stats.carried_over["published_at"] == 1


def test_a_locked_store_spools_the_batch_and_a_later_ingest_writes_it(monitor, monkeypatch):
    store = monitor.store
    real = store.put_many

    def busy(docs):
        raise StoreBusy("locked for the test")

    monkeypatch.setattr(store, "put_many", busy)
    stats = monitor.ingest([letter(1), letter(2)])
    assert (stats.spooled, stats.inserted) == (2, 0)
    assert store.count() == 0
    assert list((monitor.config.data_dir / "spool").glob("*.jsonl"))
    monkeypatch.setattr(store, "put_many", real)
    later = monitor.ingest([letter(3)])
    assert later.replayed == 2 and store.count() == 3
    assert not list((monitor.config.data_dir / "spool").iterdir())
    stored = store.get(letter(1).id)
    assert stored.analysis and stored.risk is not None  # analysed before it was spooled


def test_a_date_without_its_time_keeps_the_stored_time_of_that_day(monitor):
    monitor.ingest([letter()])  # 2026-11-20 09:30 Beijing
    midnight = datetime(2026, 11, 19, 16, 0, tzinfo=timezone.utc)  # 11-20 00:00 Beijing
    stats = monitor.ingest([letter(text=TEXT + "补充", published_at=midnight,
                                   extra={"date_only": True})])
    stored = monitor.store.get(letter().id)
    assert stats.updated == 1 and stored.published_at == WHEN
    assert "date_only" not in stored.extra
    next_day = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)  # another day: a real change
    monitor.ingest([letter(text=TEXT + "再补充", published_at=next_day,
                           extra={"date_only": True})])
    assert monitor.store.get(letter().id).published_at == next_day


def test_lone_surrogates_are_repaired_and_never_lose_the_batch(monitor):
    bad = letter(1, title="代理\ud800反映", text=TEXT + "\udcff")
    stats = monitor.ingest([bad, letter(2), letter(3)])
    assert (stats.inserted, stats.repaired, stats.skipped) == (3, 1, 0)
    stored = monitor.store.get(bad.id)
    assert stored.title == "代理\ufffd反映"
    assert monitor.store.search(SearchQuery(text="\ud800代理")).total == 1
