"""The workload of bench_store_scale.py: real texts from ../shared/data, documents built from
them (seeded, the same sequence every run), generated 10 MB public lists and the query set."""
from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.documents import Document, Reply
from monitor.store import SearchQuery

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
YEAR_MINUTES = 365 * 24 * 60
SEED = 20261201
BIG_BYTES = 10 * 2**20

Text = tuple  # (channel, title, text, reply, polarity: +1 / -1 / 0 / None unknown)


def _csv_rows(path: Path, header: bool = True) -> list:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh) if header else csv.reader(fh))


def load_texts(data: Path) -> tuple[list[Text], list[str], dict[str, int]]:
    """Every usable text under ``data``, the real official replies, and a count per set."""
    sets: dict[str, list[Text]] = {}

    def have(*parts: str) -> Path | None:
        path = data.joinpath(*parts)
        return path if path.exists() else None

    def polarity(label: str, pos: set, neg: set) -> int:
        return 1 if label in pos else -1 if label in neg else 0

    if p := have("nlpcc2013_weibo_emotion_spianmo", "Nlpcc2013Train.csv"):
        sets["nlpcc2013"] = [("social", "", r["文本"], "", polarity(
            r["标签"], {"like", "happiness"}, {"disgust", "sadness", "anger", "fear"}))
            for r in _csv_rows(p)]
    if p := have("smp2020_ewect_virus_msft-vivi", "virus_train_cleaned.json"):
        sets["smp2020"] = [("social", "", r["content"], "", polarity(
            r["label"], {"happy"}, {"angry", "sad", "fear"}))
            for r in json.loads(p.read_text(encoding="utf-8"))]
    if p := have("covid19_weibo_sentiment_nlpcc2020", "labeledData.csv"):
        sets["covid19"] = [("social", "", r["review"], "", polarity(
            r["label"], {"2", "4"}, {"0", "1", "5", "6"})) for r in _csv_rows(p)]
    if p := have("covid19_weibo_sentiment_nlpcc2020", "unlabeled_daily_sample_utf8"):
        sets["covid19 unlabelled"] = [("social", "", r.get("text") or "", "", None)
                                      for f in sorted(p.glob("*.csv")) for r in _csv_rows(f)]
    if p := have("weibo_senti_100k_subset_forever1986", "weibo_senti_100k_subset2400.csv"):
        sets["weibo_senti"] = [("social", "", r["review"].lstrip("\ufeff"), "",
                                1 if r["label"] == "1" else -1) for r in _csv_rows(p)]
    if p := have("ced_weibo_rumor_thunlp", "ced_original_microblogs.jsonl"):
        sets["ced"] = [("social", "", json.loads(line)["text"], "", None)
                       for line in p.read_text(encoding="utf-8").split("\n") if line.strip()]
    for name in ("dev.txt", "test.txt"):
        if p := have("thucnews_titles_649453932", name):
            sets.setdefault("thucnews", []).extend(
                ("news", line.rsplit("\t", 1)[0], "", "", None)
                for line in p.read_text(encoding="utf-8").splitlines())
    for name in ("dev.json", "test.json"):
        if p := have("clue_tnews_toutiao_tigergeng", name):
            sets.setdefault("tnews", []).extend(
                ("news", json.loads(line)["sentence"], "", "", None)
                for line in p.read_text(encoding="utf-8").split("\n") if line.strip())
    board = "tipdm2020_c_gov_message_board_sample"
    if p := have(board, "attachment2_messages_with_level1_label.csv"):
        sets["tipdm"] = [("board", r["留言主题"], r["留言详情"], "", None) for r in _csv_rows(p)]
    if p := have(board, "attachment4_messages_with_official_replies.csv"):
        sets.setdefault("tipdm", []).extend(("board", r["留言主题"], r["留言详情"], r["答复意见"],
                                             None) for r in _csv_rows(p))
    gov = "gov_message_samples"
    if p := have(gov, "shanghai_xfb_yjzj_replies_xinzhuohkust"):
        sets["shanghai letters"] = [("mailbox", r["标题"], r["信件内容"], r["回复内容"], None)
                                    for f in sorted(p.glob("*.csv")) for r in _csv_rows(f)]
    if p := have(gov, "chongqing_12345_siriAo", "data.csv"):
        sets["chongqing 12345"] = [("hotline", r[0], r[1], r[3], None)
                                   for r in _csv_rows(p, header=False) if len(r) >= 4]
    if p := have(gov, "dongguan_sun0769_wenzheng_zihuilee", "dongguan.json"):
        sets["dongguan"] = [("board", r["title"].split("编号")[0].replace("提问：", ""),
                             r["content"], "", None)
                            for r in json.loads(p.read_text(encoding="utf-8"))]
    texts: list[Text] = []
    counts: dict[str, int] = {}
    for name, rows in sets.items():
        rows = [(c, " ".join(t.split()), " ".join(x.split()), " ".join(r.split()), pol)
                for c, t, x, r, pol in rows]
        rows = [r for r in rows if r[1] or r[2]]
        counts[name] = len(rows)
        texts += rows
    replies = [r[3] for r in texts if r[3]]
    return texts, replies, counts


SOURCES = {"social": 6, "news": 4, "portal": 2, "board": 3, "mailbox": 2, "hotline": 1}
DEPARTMENTS = ["交通局", "住建局", "卫健委", "教育局", "市场监管局", "城管局", "人社局", "公安分局"]
OUTLETS = ["新华网", "人民网", "央视新闻", "澎湃新闻", "本地日报"]


class Corpus:
    """Documents 0, 1, 2 … built from the texts, the same sequence for the same seed."""

    def __init__(self, texts: list[Text], replies: list[str], seed: int = SEED,
                 chronological_over: int = 0):
        """``chronological_over``: publish document i of that many at i/N through the year
        (give or take two days), as a year of crawling brings them; 0 = uniform random."""
        self.texts, self.replies = texts, replies
        self.span = chronological_over
        self.rnd = random.Random(seed)
        self.order = list(range(len(texts)))
        self.rnd.shuffle(self.order)
        self.i = 0

    def take(self, n: int) -> list[Document]:
        """The next ``n`` documents."""
        out = [self._one(self.i + k) for k in range(n)]
        self.i += n
        return out

    def _one(self, i: int) -> Document:
        rnd = self.rnd
        channel, title, text, reply, pol = self.texts[self.order[i % len(self.texts)]]
        cycle = i // len(self.texts)
        if cycle and channel == "social":
            text = f"{text} //@u{rnd.randrange(10**6):06d}"  # a repost: distinct, no common word
        elif cycle and channel == "news":
            title = f"{title}｜{OUTLETS[cycle % len(OUTLETS)]}"
        if channel == "social" and rnd.random() < 0.18:
            channel, title = rnd.choice(["mailbox", "mailbox", "hotline"]), text[:18]
        elif channel == "news" and rnd.random() < 0.3:
            channel = "portal"
        kind = {"social": "post", "news": "article", "portal": "article"}.get(channel, "message")
        if pol is None:
            pol = rnd.choice([-1, 0, 0, 1])
        score = min(1.0, max(0.0, 0.5 + 0.33 * pol + rnd.uniform(-.15, .15)))
        label = "negative" if score < .35 else "positive" if score > .65 else "neutral"
        risk = round(min(1.0, 0.55 * (1 - score) + 0.45 * rnd.random()), 3)
        if self.span:
            at = YEAR_MINUTES * (1 - min(i, self.span) / self.span)
            published = NOW - timedelta(minutes=max(0, at + rnd.uniform(-2880, 2880)))
        else:
            published = NOW - timedelta(minutes=rnd.randrange(YEAR_MINUTES))
        crawled = published + timedelta(minutes=rnd.randrange(5, 600))
        answer = None
        if kind == "message" and ((reply and rnd.random() < 0.9) or rnd.random() < 0.45):
            answer = Reply(reply or rnd.choice(self.replies), rnd.choice(DEPARTMENTS),
                           min(NOW, published + timedelta(days=rnd.randrange(1, 20))))
        source = f"{'weibo' if channel == 'social' else channel}-{i % SOURCES[channel]}"
        return Document.new(
            source, channel, f"https://bench.example.gov.cn/{channel}/{i}", platform_id=str(i),
            title=title, text=text, kind=kind, crawled_at=crawled,
            published_at=None if rnd.random() < 0.03 else published, own=rnd.random() < 0.04,
            reply=answer,
            status=("replied" if answer else "pending") if kind == "message" else None,
            department=rnd.choice(DEPARTMENTS) if kind == "message" else None,
            engagement={"likes": rnd.randrange(800), "reposts": rnd.randrange(120),
                        "comments": rnd.randrange(60)} if kind == "post" else {},
            analysis={"sentiment": {"score": round(score, 3), "label": label}}, risk=risk,
            risk_reasons=["负面情绪"] if risk > .7 else [])


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬建国志海燕春梅金凤德淑珍荣福生"
PLACES = ["东风", "红旗", "新华", "胜利", "前进", "和平", "光明", "幸福", "团结", "建设", "向阳", "永安"]


def big_document(k: int) -> Document:
    """A plausible ~10 MB public list: a 道路改造 公示 (even k) or a 低保 payment list (odd k)."""
    rnd = random.Random(SEED + k)
    town = f"{PLACES[k % len(PLACES)]}镇"
    if k % 2 == 0:
        title = f"关于{town}2026年农村道路改造工程征地补偿及受益群众名单的公示"
        head = (f"根据县人民政府关于农村道路改造工程的部署，现将{town}道路改造工程涉及群众的占地补偿"
                "情况予以公示，公示期七天。群众如有异议，请在公示期内向镇人民政府反映。"
                "序号 姓名 村组 占地面积（平方米） 补偿金额（元） 备注")
    else:
        title = f"{town}2026年{k // 2 + 1}月城乡居民最低生活保障金发放名册（公示）"
        head = (f"{town}民政办现将本季度低保对象及低保金发放情况公示如下，接受群众监督。"
                "序号 姓名 身份证号 社区 家庭人口 保障类别 月发放金额（元） 发放方式")
    parts, size, row = [head], len(head.encode()), 0
    while size < BIG_BYTES:
        row += 1
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.randint(1, 2)))
        place = rnd.choice(PLACES)
        if k % 2 == 0:
            line = (f"{row} {name} {place}村{rnd.randint(1, 12)}组 {rnd.uniform(5, 400):.1f} "
                    f"{rnd.uniform(200, 40000):.2f} 道路改造占地补偿，群众已签字确认")
        else:
            line = (f"{row} {name} 4301**********{rnd.randrange(10000):04d} {place}社区 "
                    f"{rnd.randint(1, 6)}人 {rnd.choice('ABC')}类 {rnd.randrange(300, 1200)}.00 "
                    "社保卡代发 低保金 群众评议通过")
        if row % 500 == 0:
            line += (f" 以上群众情况经{place}村（社区）民主评议、镇人民政府审核，"
                     "现予公示，欢迎广大群众监督。")
        parts.append(line)
        size += len(line.encode()) + 1
    return Document.new("portal-gongshi", "portal", f"https://bench.example.gov.cn/gongshi/{k}",
                        title=title, text="\n".join(parts), kind="article",
                        published_at=NOW - timedelta(days=3 + k), crawled_at=NOW,
                        analysis={"sentiment": {"score": 0.5, "label": "neutral"}}, risk=0.1)


def query_set() -> list[tuple[str, str, SearchQuery]]:
    """(class, name, query): the fixed set searched at every checkpoint."""
    q, d30 = SearchQuery, NOW - timedelta(days=30)
    words = [("word, common", w) for w in ("疫情", "政府", "群众")]
    words += [("word, rare", w) for w in ("拆迁", "噪音", "信访")]
    words += [("two characters", w) for w in ("地铁", "口罩", "医院", "低保", "物业")]
    words += [("long word", w) for w in ("新冠肺炎", "道路改造", "志愿者")]
    words += [("phrase", w) for w in ('"武汉加油"', '"物业公司"')]
    words += [("AND", w) for w in ("小区 停车", "工资 拖欠")]
    words += [("OR", w) for w in ("学校 OR 教育", "房地产 OR 楼市")]
    out = [(cls, w, q(text=w)) for cls, w in words]
    out += [
        ("text + filters", "疫情 · social · 30 days", q(text="疫情", channels=["social"], since=d30)),
        ("text + filters", "投诉 · negative · by negative",
         q(text="投诉", max_sentiment=0.3, sort="negative")),
        ("text + filters", "停车 · board+mailbox · 30 days · newest",
         q(text="停车", channels=["board", "mailbox"], since=d30, sort="newest")),
        ("text + filters", "口罩 · risk ≥ 0.6 · by risk", q(text="口罩", min_risk=0.6, sort="risk")),
        ("filters only", "last 30 days, negative", q(since=d30, max_sentiment=0.3,
                                                     sort="negative")),
        ("filters only", "source weibo-3", q(sources=["weibo-3"])),
        ("filters only", "unanswered messages", q(kinds=["message"], replied=False)),
        ("filters only", "own channels · 30 days", q(own=True, since=d30)),
        ("sort", "政府 by risk", q(text="政府", sort="risk")),
        ("sort", "政府 by newest", q(text="政府", sort="newest")),
        ("sort", "everything by risk", q(sort="risk")),
        ("sort", "everything by newest", q(sort="newest")),
        ("deep page", "疫情 · offset 1000", q(text="疫情", offset=1000)),
        ("deep page", "政府 by newest · offset 1000", q(text="政府", sort="newest", offset=1000)),
        ("deep page", "everything by newest · offset 1000", q(sort="newest", offset=1000)),
        ("deep page", "last 30 days, negative · offset 1000",
         q(since=d30, max_sentiment=0.3, sort="negative", offset=1000)),
    ]
    return out
