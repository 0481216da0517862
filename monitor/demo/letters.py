"""Synthetic 县长信箱 letters: everyday 急难愁盼 topics, the wall collapse, and three awkward ones.

About 70% are answered.  Recent letters are usually still pending; a few old ones are pending
too, so that the overdue list of the demo has something to show.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from monitor.demo import words as W
from monitor.demo.generate import LETTER_COUNT, Letter, Slots, collapse_time, when

GREETINGS = ("尊敬的", "县长", "您好")
THANKS = re.compile(r"[，,]?谢谢[！!。]?$")


def make_letters(rng: random.Random, now: datetime) -> list[Letter]:
    """All letters, numbered in the order they arrived (oldest first)."""
    letters = _collapse_letters(now) + _awkward_letters(rng, now)
    seen: set[tuple[str, str]] = set()
    while len(letters) < LETTER_COUNT:
        letter = _ordinary(rng, now)
        if (letter.title, letter.paragraphs[0]) not in seen:  # no accidental duplicates
            seen.add((letter.title, letter.paragraphs[0]))
            letters.append(letter)
    letters.sort(key=lambda letter: letter.submitted)
    for seq, letter in enumerate(letters, 1):
        letter.seq = seq
    return letters


def _asker(rng: random.Random) -> str:
    return "匿名" if rng.random() < 0.06 else rng.choice(W.WORDS["surname"]) + "**"


def _maybe_reply(rng: random.Random, now: datetime, letter: Letter, sentences: list[str],
                 s: Slots) -> Letter:
    age = now - letter.submitted
    if rng.random() < (0.7 if age < timedelta(days=3) else 0.12):
        return letter
    longest = min(9, age.days)  # replies come 1-9 days later, and never after now
    if longest < 1:
        return letter
    reply_time = when(rng, letter.submitted + timedelta(days=rng.randint(1, longest)), days=1,
                      hours=(9, 17))
    if reply_time > now - timedelta(minutes=5) or reply_time <= letter.submitted:
        return letter
    letter.reply = [W.REPLY_OPEN + s.fill(sentences[0])] + [s.fill(x) for x in sentences[1:]]
    letter.reply.append(s.fill(rng.choice(W.REPLY_CLOSE)))
    letter.reply_time = reply_time
    return letter


def _ordinary(rng: random.Random, now: datetime) -> Letter:
    unit, titles, angry, polite, replies = rng.choice(W.LETTER_TOPICS)
    s = Slots(rng)
    if rng.random() < 0.4:
        body = [s.fill(rng.choice(angry)) + rng.choice(W.ANGRY_CLOSE)]
    else:
        text = THANKS.sub("", s.fill(rng.choice(polite)))  # one greeting, one thank-you
        opening = "" if text.startswith(GREETINGS) else rng.choice(W.POLITE_OPEN)
        body = [opening + text + ("" if text[-1] in "。！？" else "。")
                + rng.choice(W.POLITE_CLOSE)]
    if rng.random() < 0.35:
        body.append(s.fill(rng.choice(W.EXTRA_SENTENCES)))
    letter = Letter(0, s.fill(rng.choice(titles)), _asker(rng), when(rng, now, hours=(6, 24)),
                    s.fill(unit), body)
    return _maybe_reply(rng, now, letter, replies, s)


def _collapse_letters(now: datetime) -> list[Letter]:
    t0 = collapse_time(now)
    school = W.COLLAPSE_SCHOOL
    first = Letter(
        0, f"{school}围墙倒了砸伤孩子，学校到底有没有检查过？", "陈**",
        t0.replace(hour=9, minute=38), "示例县教育局",
        [f"今天早上{school}的围墙倒了，好几个孩子被砸伤送医院了！那段墙早就裂了缝，"
         "家长们之前就跟学校说过，一直没人管！",
         "请县里彻查责任，给家长们一个交代！"],
        reply=[W.REPLY_OPEN + "事件发生后，我局立即会同相关部门赶赴现场，全力救治受伤学生。",
               "目前受伤学生均已送医救治，无生命危险。县政府已成立调查组，调查结果将向社会公布。",
               "同时，我局已部署在全县中小学、幼儿园开展校舍和围墙安全隐患排查。"],
        reply_time=t0.replace(hour=15, minute=30))
    second = Letter(
        0, "请排查全县学校围墙安全隐患", "林**", t0.replace(hour=13, minute=12), "示例县教育局",
        [f"县长您好：看到{school}围墙倒塌的消息很揪心。我的孩子在东湖镇中心小学上学，"
         "那里的围墙也很老旧，建议对全县学校的围墙、校舍进行一次全面排查，谢谢！"])
    third = Letter(
        0, "网上说死了三个学生是真的吗？", "匿名", t0.replace(hour=20, minute=5),
        "示例县人民政府办公室",
        ["网上都在传青石乡学校死了三个学生，政府为什么不出来说清楚？到底死没死人？"])
    return [first, second, third]


def _awkward_letters(rng: random.Random, now: datetime) -> list[Letter]:
    # An empty body, a date in words, and a very long body: what real mailboxes contain.
    empty = Letter(0, "咨询", _asker(rng),
                   when(rng, now - timedelta(days=3), days=17, hours=(6, 24)),
                   "示例县人民政府办公室", [],
                   reply=[W.REPLY_OPEN.replace("您反映的问题已收悉。", "") +
                          "您的来信内容为空，请补充具体诉求后重新提交。"])
    empty.reply_time = empty.submitted + timedelta(days=2, hours=1)
    odd_day = now - timedelta(days=rng.randint(8, 18))
    odd_time = odd_day.replace(hour=15, minute=0, second=0, microsecond=0)
    odd = Letter(0, "小区门口的垃圾站能不能搬走", _asker(rng), odd_time, "示例县综合行政执法局",
                 ["县长您好：金桂苑门口的垃圾中转站夏天味道很大，能不能搬远一点？谢谢！"],
                 submitted_text=f"{odd_time.year}年{odd_time.month}月{odd_time.day}日 下午3点")
    s = Slots(rng)
    submitted = when(rng, now, days=25, hours=(6, 24))
    long_body = [s.fill(p) for p in W.LONG_LETTER[:4]]
    visit = submitted - timedelta(days=rng.randint(280, 320))
    for step in range(10):  # the same round of visits, again and again, for most of a year
        visit += timedelta(days=rng.randint(18, 30))
        text = Slots(rng, town=s["town"], village=s["village"]).fill(W.LONG_VISITS[step % 5])
        long_body.append(f"{visit.month}月{visit.day}日，{text}")
    long_body += [s.fill(W.LONG_FINDING)] + [s.fill(p) for p in W.LONG_LETTER[4:]]
    long = Letter(0, s.fill("关于{village}征地补偿问题的反映（第三次来信）"), _asker(rng),
                  submitted, s.fill("{town}人民政府"), long_body)
    land = next(topic for topic in W.LETTER_TOPICS if "征地" in topic[1][0])
    return [empty, odd, _maybe_reply(rng, now, long, land[4], s)]
