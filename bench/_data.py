"""Real posts and messages from ../shared/data for the benchmarks (never copied into the repo)."""
from __future__ import annotations

import csv
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.documents import Document, Reply
from monitor.timeparse import parse_datetime

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def require(*parts: str) -> Path:
    """The path under ../shared/data, or exit with a message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"skipped: {path} is not available (benchmarks read ../shared/data)")
    return path


def weibo_posts(limit: int) -> list[Document]:
    """Up to ``limit`` NLPCC 2013 Weibo posts as social documents."""
    path = require("nlpcc2013_weibo_emotion_spianmo", "Nlpcc2013Train.csv")
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    docs = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if len(docs) >= limit:
                break
            text = (row.get("文本") or "").strip()
            if not text:
                continue
            docs.append(Document.new("weibo-bench", "social", f"https://weibo.example/{i}",
                                     kind="post", title="", text=text,
                                     published_at=base + timedelta(minutes=i),
                                     engagement={"reposts": i % 97, "comments": i % 31}))
    return docs


def board_messages() -> list[Document]:
    """TipDM 2020 message-board messages with their official replies, as board documents."""
    path = require("tipdm2020_c_gov_message_board_sample",
                   "attachment4_messages_with_official_replies.csv")
    docs = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            when = parse_datetime(row.get("留言时间", ""))
            reply_text = " ".join((row.get("答复意见") or "").split())
            docs.append(Document.new(
                "board-bench", "board", f"https://board.example/{row['留言编号']}",
                kind="message", platform_id=row["留言编号"].strip(),
                title=(row.get("留言主题") or "").strip(),
                text=" ".join((row.get("留言详情") or "").split()), published_at=when,
                reply=Reply(reply_text, None, parse_datetime(row.get("答复时间", ""))) if reply_text
                else None, status="replied" if reply_text else "pending"))
    return docs


def warm(monitor) -> None:
    """Load jieba, every plugin's tables and the store before a timer starts (what a
    long-running service has done already)."""
    from monitor import textseg

    textseg.tokenizer()
    doc = Document.new("warm-up", "news", "https://warm.example/1", title="预热",
                       text="模型加载：学校围墙倒塌，群众投诉道路积水。")
    monitor.plugins.analyze(doc, monitor)
    monitor.plugins.rank_risk(doc, monitor)
    monitor.store.count()
