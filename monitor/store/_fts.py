"""Full-text helpers of the embedded store: user query → safe FTS5 expression, index rows, snippets.

The index holds jieba-segmented text (``monitor.textseg``) in the columns ``title``, ``text`` and
``reply``, plus ``subwords``: short dictionary words found inside longer ones, so that 地铁
finds 地铁站 and 人民 finds 中华人民共和国.  Every word the user typed is segmented the same way
and each token is emitted as a quoted FTS5 string, so no user input can reach the FTS5 parser
as syntax; the only operators are the ones :func:`parse` recognises (OR, AND, NOT / -word).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from monitor import textseg

#: FTS5 column names, in table order.
COLUMNS = ("title", "text", "reply", "subwords")
#: The columns that hold running text (phrases are matched there only).
TEXT_COLUMNS = "{title text reply}"

#: Opening quote → closing quote; ASCII, Chinese curly and corner quotes.
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u300c": "\u300d",
           "\u300e": "\u300f", "\uff02": "\uff02"}

# Highlight markers used inside snippet(): private-use characters, so that a 【 already in a
# document is never mistaken for a match.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"


@dataclass
class Term:
    """One thing the user typed: a bare word or a quoted phrase, possibly excluded."""

    text: str
    phrase: bool = False
    negated: bool = False  # -word, -"a phrase" or NOT word: documents must not contain it


#: Operator words, compared after NFKC and upper-casing (so ``or``, ``Or`` and ``ＯＲ`` work).
_OPERATORS = {"OR", "AND", "NOT"}


def _operator(word: str) -> str | None:
    """``OR`` / ``AND`` / ``NOT`` when ``word`` is one (any case, half- or full-width)."""
    folded = unicodedata.normalize("NFKC", word).upper()
    return folded if folded in _OPERATORS else None


def _is_minus(ch: str) -> bool:
    return unicodedata.normalize("NFKC", ch) == "-"


def parse(text: str) -> list[list[Term]]:
    """Split a query into AND-ed groups of OR-ed terms (``a b OR c`` → [[a], [b, c]]).

    ``OR`` joins its neighbours; ``AND`` is what a space means already; ``NOT word``,
    ``-word`` and ``-"a phrase"`` exclude (each exclusion is a group of its own, and an ``OR``
    next to one is ignored).  Operators are recognised in any case and in full width; one with
    nothing to act on is dropped.  Everything else, including ``NEAR`` and ``title:``, is text.
    """
    items: list[Term | str] = []  # "OR" stands for the OR operator
    negate = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if _is_minus(ch) and i + 1 < n and not text[i + 1].isspace():
            negate = True  # a leading minus: the next term is excluded
            i += 1
            continue
        if ch in _QUOTES:
            close = text.find(_QUOTES[ch], i + 1)
            end = n if close < 0 else close
            items.append(Term(text[i + 1:end], phrase=True, negated=negate))
            negate = False
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _QUOTES:
            j += 1
        word, i = text[i:j], j
        op = None if negate else _operator(word)
        if op == "NOT":
            negate = True
        elif op == "OR":
            items.append("OR")
        elif op is None:
            items.append(Term(word, negated=negate))
            negate = False
    groups: list[list[Term]] = []
    joined = False
    for item in items:
        if isinstance(item, str):  # the OR operator
            joined = bool(groups) and not groups[-1][-1].negated
            continue
        if joined and not item.negated:
            groups[-1].append(item)
        else:
            groups.append([item])
        joined = False
    return groups


def _searchable(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _quote(token: str, prefix: bool) -> str:
    # A CJK word of two or more characters is also matched as a prefix, so 地铁 finds 地铁站
    # (closer to the substring search people expect of Chinese).  Single characters are matched
    # whole inside a phrase (新* 冠* would match 新型 冠状…), and Latin words are matched whole.
    star = "*" if prefix and any(textseg.is_cjk(ch) for ch in token) else ""
    return '"' + token.replace('"', '""') + '"' + star


def term_expression(term: Term) -> str | None:
    """The FTS5 expression for one term (ignoring ``negated``), or None when it holds nothing
    searchable.

    The term is cut with ``textseg.tokens``, as documents are when indexed, so a letter number
    such as ``XZXX-2026-0042`` becomes the phrase ``"XZXX" + "2026" + "0042"`` and matches
    the same characters in a document.
    """
    toks = [t for t in textseg.tokens(term.text) if _searchable(t)]
    if not toks:
        return None
    exact = _phrase(toks)
    split = [part for t in toks for part in textseg.finer(t)]
    if split == toks or not all(_searchable(t) for t in split):
        return exact
    return f"({exact} OR {_phrase(split)})"


def _phrase(toks: list[str]) -> str:
    if len(toks) == 1:  # a lone character is searched as a prefix too: 药 finds 药品
        return _quote(toks[0], True)
    return (f"({TEXT_COLUMNS} : " + " + ".join(_quote(t, len(t) > 1) for t in toks) + ")")


def _split(text: str) -> tuple[list[str], list[str]]:
    """FTS5 expressions of the AND-ed groups, and of the exclusions, of ``text``."""
    parts: list[str] = []
    excluded: list[str] = []
    for group in parse(text):
        exprs = [e for e in (term_expression(t) for t in group) if e]
        if not exprs:
            continue
        if group[0].negated:
            excluded.append(exprs[0])
        else:
            parts.append(exprs[0] if len(exprs) == 1 else "(" + " OR ".join(exprs) + ")")
    return parts, excluded


def to_match(text: str) -> str | None:
    """A safe FTS5 MATCH expression for the user's ``text``, or None if nothing is searchable.

    Exclusions become FTS5 ``NOT``: ``学校 -围墙`` → ``"学校"* NOT "围墙"*``.  FTS5 cannot
    match "everything but", so a query made only of exclusions gives None too (see
    :func:`query_problem` for the message to show).
    """
    parts, excluded = _split(text)
    if not parts:
        return None
    expr = " AND ".join(parts)
    for neg in excluded:
        expr = f"({expr}) NOT {neg}"
    return expr


def query_problem(text: str) -> str | None:
    """A one-line message when ``text`` cannot be searched as meant, else None.

    Today that is a query made only of exclusions: it would find nothing.
    """
    parts, excluded = _split(text)
    if excluded and not parts:
        return (f"{text.strip()!r} only excludes words, and search needs a word to look for: "
                "add one, e.g. 学校 -围墙 (or use filters such as --since without a query)")
    return None


def search_words(text: str) -> list[str]:
    """The plain words of a query (segmented tokens, exclusions left out), for highlighting
    outside FTS5."""
    words: list[str] = []
    for group in parse(text):
        for term in group:
            if not term.negated:
                words.extend(t for t in textseg.tokens(term.text) if _searchable(t))
    return words


def index_row(title: str, text: str, reply: str) -> tuple[str, str, str, str]:
    """The four FTS column values for a document: segmented title, text, reply and subwords."""
    cols = [textseg.tokens(title), textseg.tokens(text), textseg.tokens(reply)]
    subs = textseg.subwords(t for col in cols for t in col)
    return (" ".join(cols[0]), " ".join(cols[1]), " ".join(cols[2]), " ".join(subs))


_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def join_segmented(text: str) -> str:
    """Undo the spaces segmentation put between words, keeping those between Latin words."""
    out: list[str] = []
    for piece in text.split(" "):
        if not piece:
            continue
        if out:
            prev = out[-1].replace(MARK_OPEN, "").replace(MARK_CLOSE, "")[-1:]
            nxt = piece.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")[:1]
            if _ASCII_WORD.match(prev) and _ASCII_WORD.match(nxt):
                out.append(" ")
        out.append(piece)
    return "".join(out)


def finish_snippet(raw: str, open_mark: str = "【", close_mark: str = "】") -> str:
    """Turn an FTS5 snippet of segmented text into readable text with visible markers."""
    return join_segmented(raw).replace(MARK_OPEN, open_mark).replace(MARK_CLOSE, close_mark)


def highlight(text: str, words: list[str], width: int = 60) -> str:
    """A snippet of ``text`` around the first of ``words`` found in it, with the words marked.

    Used when the match came from the sub-word column, which FTS5 cannot highlight in context.
    """
    words = sorted({w for w in words if w}, key=len, reverse=True)
    lowered = text.lower()
    hits = [p for p in (lowered.find(w.lower()) for w in words) if p >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    piece = text[start:start + width]
    if words:
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        piece = pattern.sub(lambda m: f"【{m.group(0)}】", piece)
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(text) else ""
    return prefix + piece + suffix
