"""The default risk scorer (``rank_risk``, ``trylast`` so any plugin can override it).

Each piece of evidence ``i`` gives a strength ``c_i`` in [0, 1] and has a weight ``w_i`` in
[0, 1]; they combine like independent warnings ("noisy-or")::

    risk = 1 - Π (1 - w_i · c_i)

so every piece can only raise the score, no single one needs to reach 1, and the result stays in
[0, 1].  The evidence, each with a reason in Chinese for the analyst:

- negativity from ``analysis["sentiment"]``               → "负面情绪 (0.08)"
- signals from ``analysis["signals"]`` (topics plugin)    → "突发事件: 倒塌、受伤"
- the most sensitive topic in ``analysis["topics"]``      → "涉及安全生产: 坍塌"
- engagement, log-scaled (reposts count most)             → "互动量高: 转发 1.2万、评论 340"
- a message (信箱 / 留言 / 12345) without a reply          → "留言未回复"

Engagement counts are read as pages print them (:func:`read_count`: 「1.2万」, 「10w+」,
「3,456」, 「1亿」); a count that is not one (negative, NaN, a word) counts 0 and an absurd one
(past 1000亿, 1e308, 10**400) counts as 1000亿: never an exception, never a 309-digit reason.
Whatever is missing (for example a disabled sentiment plugin) simply adds nothing.  Documents
from the office's own channels are scored the same way: being ours lowers nothing.

Settings, ``[plugins.risk]`` in monitor.toml (weights in [0, 1])::

    negative = 0.35
    engagement = 0.35
    unanswered = 0.15
    engagement_full = 50000      # weighted interactions at which engagement counts fully
    [plugins.risk.signals]       # per signal name; default_signal for others
    emergency = 0.45
    [plugins.risk.topics]        # per topic name; default_topic for others
    "安全生产" = 0.15
"""
from __future__ import annotations

import logging
import math
import re
import unicodedata
from typing import Any

from monitor import hookimpl
from monitor.documents import STATUS_REPLIED
from monitor.risk import RiskAssessment

log = logging.getLogger(__name__)

NAME = "risk"
DEFAULTS: dict[str, float] = {
    "negative": 0.35, "engagement": 0.35, "unanswered": 0.15, "engagement_full": 50000.0,
    "default_signal": 0.15, "default_topic": 0.03, "sensitive_topic": 0.1,
}
SIGNAL_WEIGHTS: dict[str, float] = {
    "emergency": 0.45, "collective": 0.35, "rumour": 0.3, "watch": 0.3,
    "official_conduct": 0.25, "minors": 0.2, "urgent": 0.15, "spreading": 0.15,
    "vulnerable": 0.1,
}
TOPIC_WEIGHTS: dict[str, float] = {
    "公共卫生/疫情": 0.15, "食品药品": 0.15, "安全生产": 0.15, "自然灾害": 0.15, "征地拆迁": 0.15,
    "就业/欠薪": 0.1, "财政金融/税收": 0.1, "生态环境": 0.1, "住房/房地产": 0.1, "教育": 0.1,
    "医疗卫生": 0.1, "社会治安": 0.1, "社会保障/救助": 0.1,
}
#: engagement key → (Chinese name, weight in the interaction total); first alias wins the name
ENGAGEMENT: dict[str, tuple[str, float]] = {
    "reposts": ("转发", 3.0), "shares": ("转发", 3.0), "comments": ("评论", 2.0),
    "replies": ("评论", 2.0), "likes": ("点赞", 1.0), "votes": ("点赞", 1.0),
    "views": ("浏览", 0.01), "reads": ("浏览", 0.01),
}
NEUTRAL = 0.5
NEGATIVE_BELOW = 0.35  # used for the reason when a sentiment plugin gives no label
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:  # settings are read per document: say it once, not per document
        _warned.add(key)
        log.warning(message, *args)


def _number(value: Any, default: float, key: str, upper: float | None = 1.0) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if ok and (upper is None or value <= upper) and math.isfinite(value):
        return float(value)
    bounds = "a number >= 0" if upper is None else f"a number in [0, {upper:g}]"
    _warn_once(key, "[plugins.%s] %s = %r is not %s; using %r", NAME, key, value, bounds, default)
    return default


def settings(monitor: Any = None) -> dict[str, Any]:
    """Effective weights: defaults overlaid with ``[plugins.risk]``."""
    config = getattr(monitor, "config", None)
    raw: dict[str, Any] = dict(config.plugin_config(NAME) or {}) if config is not None else {}
    conf: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        upper = None if key == "engagement_full" else 1.0
        conf[key] = _number(raw.get(key, default), default, key, upper)
    conf["engagement_full"] = max(conf["engagement_full"], 1.0)
    for table, defaults in (("signals", SIGNAL_WEIGHTS), ("topics", TOPIC_WEIGHTS)):
        merged = dict(defaults)
        given = raw.get(table, {})
        if not isinstance(given, dict):
            _warn_once(table, "[plugins.%s] %s should be a table of weights; ignored", NAME, table)
            given = {}
        for name, value in given.items():
            merged[str(name)] = _number(value, defaults.get(name, 0.0), f"{table}.{name}")
        conf[table] = merged
    return conf


def _terms(words: list[str], limit: int = 4) -> str:
    shown = "、".join(words[:limit])
    return shown + ("…" if len(words) > limit else "")


def _sentiment(analysis: dict[str, Any]) -> tuple[float | None, str | None]:
    value = analysis.get("sentiment")
    label = None
    if isinstance(value, dict):
        label, value = value.get("label"), value.get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, None
    return min(1.0, max(0.0, float(value))), label if isinstance(label, str) else None


#: The largest engagement count believed (1000亿); more is a page's or a parser's mistake.
MAX_COUNT = 10 ** 11
_COUNT_UNITS = {"": 1, "k": 10 ** 3, "千": 10 ** 3, "w": 10 ** 4, "万": 10 ** 4,
                "亿": 10 ** 8, "万亿": 10 ** 12}
_COUNT = re.compile(r"(\d+(?:\.\d*)?(?:e[+-]?\d{1,5})?)(万亿|[kw千万亿]?)\+?")


def read_count(value: Any) -> int:
    """An engagement count in [0, :data:`MAX_COUNT`] from what a page or an API gives.

    Numbers, and text such as 「1.2万」 「10w+」 「3k」 「1,234」 「10亿+」 「３万」; a negative
    count, NaN, a boolean, a word or any other value is 0, an absurd one (1e308, 10**400,
    inf) is capped.  Never raises.
    """
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return min(max(value, 0), MAX_COUNT)
    if isinstance(value, float):
        number = value
    elif isinstance(value, str) and len(value) <= 10_000:
        text = unicodedata.normalize("NFKC", value).strip().lower()
        text = text.replace(",", "").replace("，", "").replace(" ", "")
        m = _COUNT.fullmatch(text)
        if m is None:
            return 0
        number = float(m[1]) * _COUNT_UNITS[m[2]]  # float() of 5,000 digits is inf, not slow
    else:
        return 0
    if math.isnan(number) or number <= 0:
        return 0
    return MAX_COUNT if number >= MAX_COUNT else int(number)


def short_count(count: int) -> str:
    """A count as a person reads it: ``340``, ``5,100``, ``1.2万``, ``3亿``, ``1000亿+``."""
    if count >= MAX_COUNT:
        return "1000亿+"
    for unit, size in (("亿", 10 ** 8), ("万", 10 ** 4)):
        if count >= size:
            shown = f"{count / size:.1f}".removesuffix(".0")
            if unit == "万" and float(shown) >= 10000:  # 9999.96万 is 1亿
                return "1亿"
            return shown + unit
    return f"{count:,}"


def _engagement(engagement: Any, full: float) -> tuple[float, str]:
    """Strength in [0, 1] (log of weighted interactions) and a short readable summary."""
    if not isinstance(engagement, dict):
        return 0.0, ""
    total, shown = 0.0, {}
    for key, (label, weight) in ENGAGEMENT.items():
        count = read_count(engagement.get(key))
        if count:
            total += weight * count
            shown[label] = min(MAX_COUNT, shown.get(label, 0) + count)
    strength = min(1.0, math.log10(1 + total) / math.log10(1 + full))
    summary = "、".join(f"{label} {short_count(count)}" for label, count in shown.items())
    return strength, summary


def evidence(document: Any, conf: dict[str, Any]) -> list[tuple[float, str]]:
    """Every piece of evidence as (weight × strength, reason), strongest first."""
    analysis = document.analysis if isinstance(document.analysis, dict) else {}
    found: list[tuple[float, str]] = []
    score, label = _sentiment(analysis)
    if score is not None and score < NEUTRAL:
        reason = ""
        if label == "negative" or (label is None and score < NEGATIVE_BELOW):
            reason = f"负面情绪 ({score:.2f})"
        found.append((conf["negative"] * (NEUTRAL - score) / NEUTRAL, reason))
    for signal in analysis.get("signals") or []:
        if not isinstance(signal, dict) or not signal.get("name"):
            continue
        terms = [str(t) for t in signal.get("terms") or []]
        weight = conf["signals"].get(signal["name"], conf["default_signal"])
        strength = min(1.0, 0.75 + 0.125 * max(0, len(terms) - 1))
        label_text = str(signal.get("label") or signal["name"])
        found.append((weight * strength, f"{label_text}: {_terms(terms)}" if terms else label_text))
    topics = [t for t in analysis.get("topics") or [] if isinstance(t, str)]
    if topics:
        topic_terms = analysis.get("topic_terms") or {}
        weight, topic = max((conf["topics"].get(t, conf["default_topic"]), t) for t in topics)
        reason = ""
        if weight >= conf["sensitive_topic"]:
            terms = topic_terms.get(topic) if isinstance(topic_terms, dict) else None
            reason = f"涉及{topic}: {_terms(list(terms))}" if terms else f"涉及{topic}"
        found.append((weight, reason))
    strength, summary = _engagement(document.engagement, conf["engagement_full"])
    if strength > 0:
        found.append((conf["engagement"] * strength,
                      f"互动量高: {summary}" if strength >= 0.5 else ""))
    if document.kind == "message" and not (document.replied or document.status == STATUS_REPLIED):
        found.append((conf["unanswered"], "留言未回复"))
    found.sort(key=lambda item: -item[0])
    return found


def assess(document: Any, conf: dict[str, Any] | None = None) -> RiskAssessment:
    """Risk score in [0, 1] of one analysed document, with the reasons behind it."""
    conf = conf or settings(None)
    keep = 1.0
    reasons = []
    for contribution, reason in evidence(document, conf):
        keep *= 1.0 - min(1.0, max(0.0, contribution))
        if reason and contribution > 0:
            reasons.append(reason)
    return RiskAssessment(round(1.0 - keep, 4), reasons)


@hookimpl(trylast=True)
def rank_risk(document: Any, monitor: Any) -> RiskAssessment:
    """The built-in scorer; ``monitor`` may be None (default weights)."""
    return assess(document, settings(monitor))
