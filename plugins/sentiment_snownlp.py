"""Sentiment with SnowNLP: ``analysis["sentiment"] = {"score", "label", "model"}``.

SnowNLP's naive-Bayes model was trained on product, hotel and book reviews, so on civic text it
is a rough signal only (see ``docs/benchmarks-analysis.md``).  It is slow (about 60 short texts
per second) and heavy (about 2 s and 420 MB to import), hence:

- the library is imported on first use, not when the plugin is registered;
- only the title and the first ``max_chars`` characters of the text are scored;
- for messages (信箱 / 留言 / 12345) the citizen's question is scored, never the official reply.

Settings, ``[plugins.sentiment_snownlp]`` in monitor.toml::

    max_chars = 200          # characters of the text scored after the title
    negative_below = 0.35    # score < this  -> "negative"
    positive_above = 0.65    # score > this  -> "positive"; in between -> "neutral"
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable

from monitor import hookimpl

log = logging.getLogger(__name__)

NAME = "sentiment_snownlp"
MODEL = "snownlp"
DEFAULTS: dict[str, Any] = {"max_chars": 200, "negative_below": 0.35, "positive_above": 0.65}

# CJK ideographs (basic block and extension A); a text without any is nothing the model can read
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# control characters (NUL included) and lone surrogates carry no meaning and upset some tools
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_classify: Callable[[str], float] | None = None
_lock = threading.Lock()
_warned: set[str] = set()


def _load_classifier() -> Callable[[str], float]:
    """Import SnowNLP once (slow) and return its sentiment classifier."""
    global _classify
    if _classify is None:
        with _lock:
            if _classify is None:
                from snownlp import sentiment  # ~2 s, ~420 MB: only when first needed

                _classify = sentiment.classify
    return _classify


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def settings(monitor: Any = None) -> dict[str, Any]:
    """Effective settings: defaults overlaid with ``[plugins.sentiment_snownlp]``, checked."""
    config = getattr(monitor, "config", None)
    raw: dict[str, Any] = dict(config.plugin_config(NAME) or {}) if config is not None else {}
    merged = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, type(default) | int):
            _warn_once(f"type:{key}", "[plugins.%s] %s = %r is not a number; using %r",
                       NAME, key, value, default)
            continue
        merged[key] = value
    merged["max_chars"] = max(0, int(merged["max_chars"]))
    low, high = float(merged["negative_below"]), float(merged["positive_above"])
    if not 0.0 <= low <= high <= 1.0:
        _warn_once("thresholds", "[plugins.%s] needs 0 <= negative_below <= positive_above <= 1"
                   " (got %r, %r); using the defaults", NAME, low, high)
        low, high = DEFAULTS["negative_below"], DEFAULTS["positive_above"]
    merged["negative_below"], merged["positive_above"] = low, high
    return merged


def text_to_score(document: Any, max_chars: int = DEFAULTS["max_chars"]) -> str:
    """The text that is scored: title plus the first ``max_chars`` characters of the body.

    ``document.text`` of a message is the citizen's question; the reply lives in
    ``document.reply`` and is deliberately left out.
    """
    title = _JUNK.sub(" ", document.title or "").strip()
    body = _JUNK.sub(" ", (document.text or "")[:max_chars]).strip()
    return "\n".join(part for part in (title, body) if part)


def label_for(score: float, negative_below: float = DEFAULTS["negative_below"],
              positive_above: float = DEFAULTS["positive_above"]) -> str:
    """Map a score in [0, 1] to "negative", "neutral" or "positive"."""
    if score < negative_below:
        return "negative"
    if score > positive_above:
        return "positive"
    return "neutral"


def score_text(text: str) -> float | None:
    """SnowNLP's probability that ``text`` is positive, or None when there is no Chinese in it."""
    text = _JUNK.sub(" ", text or "")
    if not _CJK.search(text):
        return None
    score = float(_load_classifier()(text))
    return min(1.0, max(0.0, score))


@hookimpl
def analyze_document(document: Any, monitor: Any) -> dict[str, Any] | None:
    """Score the document's sentiment; None when there is nothing Chinese to score.

    ``monitor`` may be None (unit tests, scripts): the default settings are used then.
    """
    conf = settings(monitor)
    score = score_text(text_to_score(document, conf["max_chars"]))
    if score is None:
        return None
    label = label_for(score, conf["negative_below"], conf["positive_above"])
    return {"sentiment": {"score": round(score, 4), "label": label, "model": MODEL}}
