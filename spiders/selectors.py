"""Selector helpers shared by the generic spiders.

A selector in a source file is CSS (with Scrapy's ``::text`` / ``::attr(name)``) unless it starts
with ``/`` or ``(`` or the prefix ``xpath:``, which make it XPath.  Text is taken as a *block*:
the text of every selected element joined, paragraph breaks kept as ``\\n``, ``script`` and
``style`` dropped, runs of spaces folded, empty lines removed.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from lxml import etree
from parsel import Selector, SelectorList

from monitor.config import is_xpath

#: Elements whose text is never content.
DROP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "canvas",
                       "select", "option", "button", "textarea", "object", "embed"})
#: Elements that start a new line.
BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "tbody", "thead", "h1", "h2", "h3", "h4",
    "h5", "h6", "section", "article", "blockquote", "pre", "dd", "dt", "dl", "figure",
    "figcaption", "header", "footer", "hr", "form", "fieldset", "address", "main", "aside",
    "nav", "center", "td", "th", "caption"})

_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000\u2002\u2003\u2009\u200b\ufeff]+")


def select(node: Any, expr: str) -> SelectorList:
    """Apply a CSS or XPath selector to a response or selector; bad syntax raises ValueError."""
    expr = expr.strip()
    try:
        if is_xpath(expr):
            return node.xpath(expr.removeprefix("xpath:").strip())
        return node.css(expr)
    except (ValueError, etree.XPathError) as exc:
        raise ValueError(f"invalid selector {expr!r}: {exc}") from exc
    except Exception as exc:  # cssselect raises its own SelectorSyntaxError
        raise ValueError(f"invalid selector {expr!r}: {exc}") from exc


def clean_lines(text: str) -> str:
    """Fold spaces inside lines, strip each line, drop empty lines."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def inline(text: str) -> str:
    """All whitespace (newlines too) folded to single spaces."""
    return _SPACES.sub(" ", " ".join(text.split())).strip()


def _walk(el: Any, out: list[str], skip: Callable[[Any], bool] | None) -> None:
    # A loop with its own stack, not recursion: a page nested 10,000 levels deep (lxml keeps
    # about 2,000 of them) must not raise RecursionError.
    stack: list[tuple[Any, bool | None]] = [(el, None)]
    while stack:
        node, closing_block = stack.pop()
        if closing_block is not None:  # every child done: close the element
            if closing_block:
                out.append("\n")
            if node.tail:
                out.append(node.tail)
            continue
        tag = node.tag if isinstance(node.tag, str) else ""
        if not tag:  # comments and processing instructions
            if node.tail:
                out.append(node.tail)
            continue
        tag = tag.lower().rpartition("}")[2]
        if tag in DROP_TAGS or (skip is not None and skip(node)):
            if node.tail:
                out.append(node.tail)
            continue
        block = tag in BLOCK_TAGS
        if block:
            out.append("\n")
        if node.text:
            out.append(node.text)
        stack.append((node, block))
        stack.extend((child, None) for child in reversed(node))


def element_text(el: Any, skip: Callable[[Any], bool] | None = None) -> str:
    """Block text of one lxml element (its tail excluded); ``skip(child)`` drops a subtree."""
    out: list[str] = []
    if el.text and isinstance(el.tag, str):
        out.append(el.text)
    for child in el:
        _walk(child, out, skip)
    return clean_lines("".join(out))


def text_of(selection: Iterable[Selector]) -> str:
    """Block text of every selected node (elements, text nodes or attribute values) joined."""
    parts: list[str] = []
    for sel in selection:
        root = sel.root
        if isinstance(root, str):
            part = clean_lines(root)
        elif hasattr(root, "tag"):
            part = element_text(root)
        else:
            part = clean_lines(str(root))
        if part:
            parts.append(part)
    return "\n".join(parts)


def extract(node: Any, expr: str, *, one_line: bool = False) -> str:
    """Text found by ``expr`` ("" when nothing): a block, or one line when ``one_line``."""
    text = text_of(select(node, expr))
    return inline(text) if one_line else text


def extract_all(node: Any, expr: str) -> list[str]:
    """Each selected node's text on its own (used for link lists)."""
    return [t for t in (text_of([s]) for s in select(node, expr)) if t]
