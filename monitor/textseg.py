"""Chinese word segmentation shared by the full-text index and the text-analysis plugins.

jieba is imported on first use (it takes about a second to load its dictionary), its log
chatter is turned down, and its dictionary cache goes under the user's cache folder instead of
the system temp folder.  Segmentation is dictionary-only by default (``hmm=False``) so that the
same characters are cut the same way in a document and in a search query; unknown names then
come out as single characters, which a phrase search still finds.

Dictionary-only cutting (what the index and queries use) goes through rjieba, jieba's algorithm
compiled in Rust with jieba's own dictionary: the same tokens, about ten times faster (tested
on the shared corpora; see tests/test_textseg.py).  jieba itself is still loaded for what only
it offers (HMM cutting for new words, the DAG behind :func:`finer`, keyword extraction).  Words
added with ``jieba.add_word`` do not change the index.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

#: Name of the folder under the user's cache directory.
APP_NAME = "gov-opinion-monitor"
#: Environment variable that overrides the cache folder (tests, read-only homes).
ENV_CACHE_DIR = "MONITOR_CACHE_DIR"

_lock = threading.Lock()
_tokenizer: Any = None
_fast: Any = None  # the rjieba module, False when it is not installed


def cache_dir() -> Path:
    """The folder for caches such as jieba's dictionary cache (created when missing)."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        base = Path(override)
    else:
        try:
            import platformdirs

            base = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
        except ImportError:  # platformdirs comes with Scrapy, but do not depend on it here
            if sys.platform == "win32":
                root = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
            else:
                root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            base = Path(root) / APP_NAME
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home must not stop segmentation
        base = Path(tempfile.gettempdir())
    return base


def tokenizer() -> Any:
    """The shared, initialised jieba tokenizer (``jieba.dt``, so user words apply everywhere)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                if jieba.dt.tmp_dir is None and jieba.dt.cache_file is None:
                    jieba.dt.tmp_dir = str(cache_dir())
                jieba.dt.initialize()
                _tokenizer = jieba.dt
    return _tokenizer


def _rjieba() -> Any:
    """The rjieba module, or None when it is not installed."""
    global _fast
    if _fast is None:
        try:
            import rjieba
        except ImportError:  # pragma: no cover - rjieba is a dependency; jieba still works
            rjieba = False
        _fast = rjieba
    return _fast or None


def clean(text: str) -> str:
    """``text`` with lone surrogates (what undecodable bytes become in ``sys.argv`` or a broken
    JSON escape such as ``\\ud800``) replaced by U+FFFD, so it can be encoded and cut."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def tokens(text: str, hmm: bool = False) -> list[str]:
    """Words of ``text`` in order, without whitespace tokens."""
    if not text:
        return []
    text = clean(text)
    fast = None if hmm else _rjieba()
    cut = fast.cut(text, False) if fast is not None else tokenizer().cut(text, HMM=hmm)
    return [t for t in cut if t.strip()]


def segment(text: str, hmm: bool = False) -> str:
    """``text`` cut into words joined by single spaces (punctuation is kept as its own token)."""
    return " ".join(tokens(text, hmm=hmm))


def subwords(words: Iterable[str]) -> list[str]:
    """Dictionary words of 2–3 characters found inside longer ``words`` (地铁 in 地铁站).

    This is what jieba's search mode adds; the index keeps these apart from the running text so
    that phrases still match word by word.
    """
    fast = _rjieba()
    if fast is not None:
        known = fast.has_word
    else:
        freq = tokenizer().FREQ

        def known(gram: str) -> bool:
            return bool(freq.get(gram))
    found: list[str] = []
    for word in words:
        size = len(word)
        if size <= 2:
            continue
        for n in (2, 3):
            if size <= n:
                break
            for i in range(size - n + 1):
                gram = word[i:i + n]
                if known(gram):
                    found.append(gram)
    return found


def finer(word: str) -> list[str]:
    """The best cut of ``word`` into smaller dictionary words (北京地铁 → 北京, 地铁).

    A query word may be one dictionary entry while the same characters in a document were cut
    into smaller words (北京 地铁站); searching for the finer cut as well finds those.  Words of
    one or two characters, words that are not all Chinese characters, and words with no finer
    cut come back unchanged.
    """
    if len(word) < 3 or not all(is_cjk(ch) for ch in word):
        return [word]
    tk = tokenizer()
    dag = tk.get_DAG(word)
    last = len(word) - 1
    dag[0] = [j for j in dag[0] if j != last] or [0]
    route: dict[int, tuple[float, int]] = {}
    tk.calc(word, dag, route)
    parts, i = [], 0
    while i < len(word):
        j = route[i][1] + 1
        parts.append(word[i:j])
        i = j
    return parts


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (the scripts jieba segments)."""
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3134F)
