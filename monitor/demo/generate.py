"""Synthetic content for the demo site: county news, mailbox letters and city feed items.

Everything comes from the templates in :mod:`monitor.demo.words` and one ``random.Random``, so the
same seed and ``now`` give the same content.  The wall-collapse story of SCENARIOS.md happens at
08:55 on the day before ``now``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.demo import words as W

TZ = ZoneInfo("Asia/Shanghai")
NEWS_COUNT, LETTER_COUNT, FEED_COUNT = 150, 120, 40


@dataclass
class Article:
    """A county-portal news article, or a city news item of the RSS feed."""

    number: int
    title: str
    published: datetime
    source: str
    paragraphs: list[str]
    section: str = "news"

    @property
    def path(self) -> str:
        """Site path of the detail page."""
        return f"/{self.section}/{self.published:%Y%m%d}/{self.number:04d}.html"


@dataclass
class Letter:
    """A 县长信箱 letter and, when answered, its reply."""

    seq: int
    title: str
    asker: str
    submitted: datetime
    unit: str
    paragraphs: list[str]
    reply: list[str] | None = None
    reply_time: datetime | None = None
    submitted_text: str = ""  # shown instead of the standard format when set

    @property
    def number(self) -> str:
        """The 信件编号."""
        return f"XZ{self.submitted:%Y%m%d}{self.seq:04d}"

    @property
    def path(self) -> str:
        """Site path of the detail page."""
        return f"/mailbox/detail/{self.number}.html"


class Slots(dict):
    """Template values, chosen at random on first use and then kept for the whole item."""

    def __init__(self, rng: random.Random, **fixed: str):
        super().__init__(fixed)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        if key in W.WORDS:
            value = self.rng.choice(W.WORDS[key])
        elif key in W.NUMBERS:
            value = str(self.rng.randint(*W.NUMBERS[key]))
        else:
            raise KeyError(key)
        self[key] = value
        return value

    def fill(self, template: str) -> str:
        """Fill ``template``; values that contain slots are filled too."""
        for _ in range(3):
            if "{" not in template:
                break
            template = template.format_map(self)
        return template


def when(rng: random.Random, now: datetime, *, days: int = 30, hours: tuple[int, int] = (8, 18),
         not_before: datetime | None = None) -> datetime:
    """A random minute in the ``days`` before ``now`` within ``hours``, never in the future."""
    for _ in range(50):
        day = now - timedelta(days=rng.randint(0, days - 1))
        moment = day.replace(hour=rng.randint(hours[0], hours[1] - 1), minute=rng.randint(0, 59),
                             second=0, microsecond=0)
        if moment <= now - timedelta(minutes=5) and (not_before is None or moment > not_before):
            return moment
    return now - timedelta(hours=rng.randint(30, 200))


def collapse_time(now: datetime) -> datetime:
    """When the scenario's school wall collapsed: 08:55 on the day before ``now``."""
    return (now - timedelta(days=1)).replace(hour=8, minute=55, second=0, microsecond=0)


def _md(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日"


def make_news(rng: random.Random, now: datetime) -> list[Article]:
    """The county portal's 新闻发布: mostly routine news plus a few risky items; oldest first."""
    items = _special_news(rng, now)
    weights = [kind[0] for kind in W.NEWS_KINDS]
    while len(items) < NEWS_COUNT:
        _, source, titles, paras = rng.choices(W.NEWS_KINDS, weights)[0]
        policy, pdept = rng.choice(W.POLICIES)
        project, jdept = rng.choice(W.PROJECTS)
        published = when(rng, now)
        s = Slots(rng, policy=policy, pdept=pdept, project=project, jdept=jdept, md=_md(published))
        chosen = [p for p in paras if rng.random() < 0.8] or paras[:2]
        title = s.fill(rng.choice(titles))
        if title not in {item.title for item in items}:  # a list of look-alikes reads badly
            items.append(Article(0, title, published, s.fill(source), [s.fill(p) for p in chosen]))
    return _numbered(items)


def _special_news(rng: random.Random, now: datetime) -> list[Article]:
    t0 = collapse_time(now)
    town, school = W.COLLAPSE_TOWN, W.COLLAPSE_SCHOOL
    hurt = 4
    old = Slots(rng)
    return [
        Article(0, f"关于{school}围墙倒塌事件的情况通报", t0.replace(hour=11, minute=40),
                "示例县教育局",
                [f"{_md(t0)}8时55分许，{school}东侧一段围墙发生局部倒塌，造成{hurt}名学生受伤。",
                 "事件发生后，县委、县政府高度重视，县教育局、县应急管理局及"
                 f"{town}人民政府主要负责同志第一时间赶赴现场处置。",
                 "受伤学生已全部送往示例县人民医院救治，目前生命体征平稳，无生命危险。",
                 "县政府已成立事件调查组，对事件原因开展调查，并在全县范围内开展校舍安全隐患排查。"
                 "调查结果将及时向社会公布。"]),
        Article(0, f"关于网传“{school}三名学生死亡”系不实信息的说明",
                t0.replace(hour=16, minute=20), "示例县公安局",
                [f"近日，有网民在网络平台发布“{school}围墙倒塌致三名学生死亡”的信息，引发关注。",
                 f"经核实，该信息不属实。事件共造成{hurt}名学生受伤，均在医院接受治疗，无人员死亡。",
                 "公安机关提醒广大网民，不造谣、不信谣、不传谣，对编造、故意传播虚假信息的行为，"
                 "将依法追究责任。"]),
        Article(0, f"示例县召开{school}围墙倒塌事件新闻发布会",
                t0.replace(hour=17, minute=50), "示例县人民政府新闻办公室",
                [f"{_md(t0)}17时，示例县召开新闻发布会，通报{school}围墙倒塌事件有关情况。",
                 "县教育局主要负责同志介绍了事件经过、伤员救治和隐患排查情况，并回答了记者提问。",
                 "发布会表示，将对事件中的失职失责行为依法依规严肃追责，调查进展将滚动发布。"]),
        Article(0, old.fill("关于{town}部分区域临时停水的通知"), when(rng, now, days=12),
                "示例县水利局",
                [old.fill("因供水管网改造施工，{town}{road}以东区域将临时停水约{n_small}小时。"),
                 "请相关区域居民提前做好储水准备，给您带来的不便敬请谅解。"]),
        Article(0, "网传“示例县全面禁止电动自行车上路”不实", when(rng, now, days=20),
                "示例县公安局",
                ["近期，网上流传“示例县将全面禁止电动自行车上路”的消息。经核实，该消息不实。",
                 "我县仅对未按规定登记挂牌、违规加装改装的电动自行车开展集中整治，请市民不信谣不传谣。"]),
        Article(0, "关于一起餐饮单位食品安全问题的处理情况通报", when(rng, now, days=25),
                "示例县市场监督管理局",
                [old.fill("近日，有群众反映{road}一餐饮店存在食材过期问题。我局接报后立即开展检查。"),
                 "经查情况属实，我局已依法没收过期食材，责令停业整改，并处以罚款。"]),
    ]


def _numbered(items: list[Article]) -> list[Article]:
    items.sort(key=lambda a: a.published)
    for number, item in enumerate(items, 1):
        item.number = number
    return items


def make_feed(rng: random.Random, now: datetime) -> list[Article]:
    """Items of the 示例市新闻网 RSS feed (some about the county); oldest first."""
    t0 = collapse_time(now)
    school = W.COLLAPSE_SCHOOL
    items = [
        Article(0, "示例县一小学围墙倒塌 多名学生受伤送医", t0.replace(hour=10, minute=20),
                "示例市新闻网",
                [f"今天上午，示例县{school}一段围墙发生倒塌，据现场目击者称，有学生被压受伤。",
                 "记者从示例县有关方面了解到，伤者已被送往医院救治，具体情况正在进一步核实中。"],
                section="citynews"),
        Article(0, "示例县通报小学围墙倒塌事件：4名学生受伤 无生命危险",
                t0.replace(hour=12, minute=5), "示例市新闻网",
                ["示例县教育局11时40分发布情况通报，4名受伤学生生命体征平稳。",
                 "示例县已成立调查组调查事件原因，并在全县开展校舍安全隐患排查。"],
                section="citynews"),
    ]
    while len(items) < FEED_COUNT:
        titles, paras = rng.choice(W.CITY_KINDS)
        project, _ = rng.choice(W.PROJECTS)
        s = Slots(rng, project=project)
        title = s.fill(rng.choice(titles))
        if title not in {item.title for item in items}:
            items.append(Article(0, title, when(rng, now, hours=(7, 22)), "示例市新闻网",
                                 [s.fill(p) for p in paras], section="citynews"))
    return _numbered(items)
