"""Masking of citizens' names: the monitor never stores a full citizen name.

* the asker of a message keeps the surname only: 「张三丰」 → 「张**」, 「欧阳小明」 → 「欧阳**」;
* an official reply that opens with a salutation naming the citizen — 「颛孙国梁：您好！」,
  「张三同志：」 — gets the same treatment; salutations that name nobody (「您好：」「市民朋友：」)
  and surname-only forms (「马同志：」) are left alone.
"""
from __future__ import annotations

import re

MASK = "**"

#: Two-character surnames (the common ones), so 「欧阳小明」 keeps 「欧阳」.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 颛孙 令狐 端木 独孤 "
    "南宫 西门 轩辕 澹台 申屠 太史 百里 呼延 钟离 闻人 赫连 东郭 公冶 万俟 单于 淳于 "
    "濮阳 左丘 梁丘 第五 拓跋 完颜".split())

#: Words that address nobody in particular.
_NOT_NAMES = frozenset(
    "您好 你好 市民 网友 群众 来信人 信访人 反映人 留言人 朋友 市民朋友 网友朋友 各位 大家 "
    "先生 女士 同志 老师 居民 业主 家长 投诉人 咨询人 用户 游客 匿名 匿名用户 尊敬的".split())
_TITLES = ("同志", "先生", "女士", "老师", "师傅")
_SALUTATION = re.compile(
    r"^(?P<lead>\s*(?:尊敬的)?)(?P<name>[\u4e00-\u9fff]{1,4}?)(?P<title>同志|先生|女士|老师|师傅)?"
    r"(?P<end>\s*[：:]|\s*[，,]\s*(?=您好|你好))")
#: Opening words of replies that are not salutations.
_OPENERS = ("经查", "经核", "经研究", "答复", "回复", "现答复", "说明", "附件", "特此", "关于", "来信",
            "您反映", "你反映", "收悉", "处理", "办理", "结果", "意见")
_CJK = re.compile(r"^[\u4e00-\u9fff·]+$")


def _surname(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else name[:1]


def mask_name(name: str | None) -> str | None:
    """The name with everything after the surname replaced by ``**`` (None stays None)."""
    if name is None:
        return None
    name = name.strip()
    if not name or "*" in name or "×" in name or name in _NOT_NAMES:
        return name or None
    if name.startswith(("匿名", "网友")):
        return name[:2]
    for title in _TITLES:
        if name.endswith(title) and len(name) > len(title):
            rest = name[: -len(title)]
            return name if len(rest) == 1 else mask_name(rest) + title
    if _CJK.match(name):
        return _surname(name) + MASK
    return name[:1] + MASK


def mask_salutation(text: str) -> str:
    """Mask a leading 「<name>：」 / 「<name>同志：」 salutation in a reply text."""
    if not text:
        return text
    m = _SALUTATION.match(text)
    if not m:
        return text
    name, title = m["name"], m["title"] or ""
    if name in _NOT_NAMES or (name + title) in _NOT_NAMES or name.startswith(("尊敬", *_OPENERS)):
        return text
    if any(name.endswith(word) for word in ("市民", "网友", "朋友", "群众", "居民", "业主")):
        return text
    if len(name) == 1 and title:  # 「马同志」 names only a surname
        return text
    if len(name) < 2 and not title:
        return text
    masked = _surname(name) + MASK
    return f"{m['lead']}{masked}{title}{m['end']}{text[m.end():]}"
