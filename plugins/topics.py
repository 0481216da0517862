"""Keywords, topics and risk signals: ``analysis["keywords" | "topics" | "topic_terms" | "signals"]``.

- ``keywords``: the top words by TF-IDF (``jieba.analyse.extract_tags``).
- ``topics``: names from a built-in taxonomy of policy areas (the seeds' 重点领域: 教育, 医疗卫生,
  安全生产, 征地拆迁 …), strongest first; ``topic_terms`` maps each to the words that matched.
- ``signals``: what an analyst must not miss — emergencies and casualties, rumours and untrue
  information, collective action, 急难愁盼 pleas, children or students involved, officials'
  conduct, viral spread, vulnerable people, and the office's own watch words.  Each signal is
  ``{"name", "label", "terms"}``.  "无人员伤亡" / "未造成人员伤亡" do not count as casualties.

Matching is a plain substring scan of the title and text (for messages, the citizen's question,
not the reply), so it needs no segmenter and never misses a word that jieba would split.

Settings, ``[plugins.topics]`` in monitor.toml (all optional)::

    top_k = 8                   # number of keywords
    max_topics = 5              # topics kept, strongest first
    max_chars = 50000           # characters scanned (and given to the keyword extractor)
    watch_words = ["某化工厂"]   # becomes the "watch" signal (关注词)
    extra_topics = {"文旅" = ["景区", "门票"]}      # new topics, or words added to a built-in one
    extra_signals = {"emergency" = ["爆管"]}        # words added to a signal, or a new signal
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable

from monitor import hookimpl
from plugins.taxonomy import SIGNAL_LABELS, SIGNALS, TOPICS

log = logging.getLogger(__name__)

NAME = "topics"
DEFAULTS: dict[str, Any] = {"top_k": 8, "max_topics": 5, "max_chars": 50000}
NEGATABLE_SIGNALS = frozenset({"emergency"})

# "无人员伤亡", "未造成人员伤亡", "没有人受伤", "无一人死亡" … but not "未成年人死亡"
_NEGATED = re.compile(r"(?:无|未|没有|没|暂无|未见|未有)(?:造成|发生|出现|导致)?(?:任何)?(?:一)?"
                      r"(?:人员|人)?$")
_CLAUSE_END = re.compile(r"[，。；！？,.;!?\n]")
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_WORDISH = re.compile(r"[\u3400-\u9fffA-Za-z]")

_extract_tags: Callable[..., list[str]] | None = None
_lock = threading.Lock()
_tables: dict[str, tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = {}


def _load_extractor() -> Callable[..., list[str]]:
    """Import ``jieba.analyse`` on first use, with jieba's start-up chatter silenced."""
    global _extract_tags
    if _extract_tags is None:
        with _lock:
            if _extract_tags is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                try:  # the shared helper may set up user dictionaries; use it when present
                    import monitor.textseg  # noqa: F401
                except ImportError:
                    pass
                import jieba.analyse

                _extract_tags = jieba.analyse.extract_tags
    return _extract_tags


def _word_lists(value: Any, key: str) -> dict[str, list[str]]:
    """Check a ``{name = ["w1", "w2"]}`` table from the config; bad entries are skipped."""
    if not isinstance(value, dict):
        log.warning("[plugins.%s] %s should be a table of word lists; ignored", NAME, key)
        return {}
    result = {}
    for name, words in value.items():
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list):
            log.warning("[plugins.%s] %s.%s should be a list of words; ignored", NAME, key, name)
            continue
        result[str(name)] = [w.strip() for w in words if isinstance(w, str) and w.strip()]
    return result


def settings(monitor: Any = None) -> dict[str, Any]:
    """Effective settings: defaults overlaid with ``[plugins.topics]``."""
    config = getattr(monitor, "config", None)
    raw: dict[str, Any] = dict(config.plugin_config(NAME) or {}) if config is not None else {}
    merged: dict[str, Any] = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            log.warning("[plugins.%s] %s = %r is not a whole number >= 0; using %r",
                        NAME, key, value, default)
            value = default
        merged[key] = value
    merged["extra_topics"] = _word_lists(raw.get("extra_topics", {}), "extra_topics")
    merged["extra_signals"] = _word_lists(raw.get("extra_signals", {}), "extra_signals")
    watch = raw.get("watch_words", [])
    merged["watch_words"] = _word_lists({"watch": watch}, "watch_words").get("watch", [])
    return merged


def _merge(base: dict[str, tuple[str, ...]], extra: dict[str, list[str]]
           ) -> dict[str, tuple[str, ...]]:
    merged = {name: list(words) for name, words in base.items()}
    for name, words in extra.items():
        bucket = merged.setdefault(name, [])
        bucket.extend(w for w in words if w not in bucket)
    return {name: tuple(words) for name, words in merged.items() if words}


def tables(conf: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Topic and signal word tables for these settings (built-in plus config), cached."""
    key = repr((conf["extra_topics"], conf["extra_signals"], conf["watch_words"]))
    found = _tables.get(key)
    if found is None:
        signals_extra = dict(conf["extra_signals"])
        if conf["watch_words"]:
            signals_extra["watch"] = signals_extra.get("watch", []) + conf["watch_words"]
        found = (_merge(TOPICS, conf["extra_topics"]), _merge(SIGNALS, signals_extra))
        if len(_tables) > 32:  # settings rarely change; keep the cache from growing in tests
            _tables.clear()
        _tables[key] = found
    return found


def _negated(text: str, start: int) -> bool:
    clause = text[max(0, start - 10):start]
    ends = list(_CLAUSE_END.finditer(clause))
    if ends:
        clause = clause[ends[-1].end():]
    return bool(_NEGATED.search(clause))


def find_terms(text: str, words: tuple[str, ...], negatable: bool = False) -> list[str]:
    """The words that occur in ``text`` (in table order); optionally not when negated."""
    found = []
    for word in words:
        start = text.find(word)
        if start < 0:
            continue
        if negatable:
            while start >= 0 and _negated(text, start):
                start = text.find(word, start + 1)
            if start < 0:
                continue
        found.append(word)
    return found


def scan_text(document: Any, max_chars: int = DEFAULTS["max_chars"]) -> str:
    """Title and text (for messages: the question), cleaned of control characters."""
    parts = (document.title or "", (document.text or "")[:max_chars])
    return _JUNK.sub(" ", "\n".join(p for p in parts if p.strip())).strip()


def keywords(text: str, top_k: int = DEFAULTS["top_k"]) -> list[str]:
    """Top ``top_k`` TF-IDF keywords of ``text``, without numbers and punctuation."""
    if top_k <= 0 or not _WORDISH.search(text):
        return []
    tags = _load_extractor()(text, topK=top_k * 2)
    return [t for t in tags if _WORDISH.search(t) and len(t.strip()) > 1][:top_k]


def classify(text: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Topics, topic terms and signals found in ``text``."""
    topic_table, signal_table = tables(conf)
    hits = []
    for order, (name, words) in enumerate(topic_table.items()):
        terms = find_terms(text, words)
        if terms:
            hits.append((-len(terms), order, name, terms))
    hits.sort()
    hits = hits[:conf["max_topics"]]
    signals = []
    for name, words in signal_table.items():
        terms = find_terms(text, words, negatable=name in NEGATABLE_SIGNALS)
        if terms:
            signals.append({"name": name, "label": SIGNAL_LABELS.get(name, name),
                            "terms": terms})
    return {"topics": [h[2] for h in hits], "topic_terms": {h[2]: h[3] for h in hits},
            "signals": signals}


@hookimpl
def analyze_document(document: Any, monitor: Any) -> dict[str, Any] | None:
    """Keywords, topics and risk signals of the document; None when it has no text.

    ``monitor`` may be None (unit tests, scripts): the default settings are used then.
    """
    conf = settings(monitor)
    text = scan_text(document, conf["max_chars"])
    if not text:
        return None
    return {"keywords": keywords(text, conf["top_k"]), **classify(text, conf)}
