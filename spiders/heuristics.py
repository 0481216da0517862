"""Fallbacks for pages whose source file names no selector (or whose selector found nothing).

* title: the ``<title>`` text with the site name cut off, confirmed by a matching ``<h1>``/``<h2>``;
* publish time: common ``<meta>`` tags, then the first date-time printed after the title;
* main text: the block with the most paragraph text and the fewest links (text density).

These are the project's own simple rules, good enough for ordinary news and government pages.
"""
from __future__ import annotations

import re
from typing import Any

from spiders.selectors import DROP_TAGS, element_text, inline

_TITLE_SEPARATORS = re.compile(r"\s*(?:_|--|——|\s-\s|\s–\s|\s—\s|\s\|\s|｜)\s*")
_SITE_SUFFIX = re.compile(r"\s*-\s*[^-]{1,8}(?:网|报|频道|政府|门户|官网)\s*$")
_META_DATE_NAMES = (
    "article:published_time", "og:release_date", "og:time", "pubdate", "publishdate",
    "publish_date", "publishtime", "publish_time", "publication_date", "datepublished",
    "firstpublishedtime", "dc.date.issued", "dc.date", "date", "created", "maketime")
_DATE_IN_TEXT = re.compile(
    r"(20\d{2}|19\d{2})\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
    r"(?:\s*\d{1,2}\s*[:：时]\s*\d{1,2}(?:\s*[:：分]\s*\d{1,2})?)?")
_HAS_TIME = re.compile(r"\d{1,2}\s*[:：时]\s*\d{1,2}\s*$")
_NOISE = re.compile(r"share|comment|footer|related|recommend|nav|breadcrumb|copyright|"
                    r"sidebar|advert|banner|toolbar|login|hot|rank|menu", re.I)
_CONTAINERS = {"div", "article", "section", "td", "main", "body"}
_NOT_PARAGRAPHS = {"a", "li", "dt", "dd", "option", "label", "title", "h1", "h2", "h3"}
_WORD = re.compile(r"[\u4e00-\u9fff\w]")


def _count(text: str | None) -> int:
    return len(_WORD.findall(text)) if text else 0


def guess_title(response: Any) -> str:
    """The article title: <title> without the site name, preferring a heading that matches it."""
    page_title = inline(" ".join(response.xpath("//head/title//text()").getall()))
    if not page_title:
        page_title = inline(" ".join(response.xpath("//title//text()").getall()))
    headings = [inline(" ".join(h.xpath(".//text()").getall()))
                for h in response.xpath("//h1 | //h2")]
    headings = [h for h in headings if len(h) >= 4]
    first = _TITLE_SEPARATORS.split(page_title)[0].strip() if page_title else ""
    first = _SITE_SUFFIX.sub("", first)
    if first and len(first) >= 4:
        for heading in headings:
            if heading == first or first in heading or (
                    heading in first and len(heading) * 2 >= len(first)):
                return heading
        return first
    h1 = [inline(" ".join(h.xpath(".//text()").getall())) for h in response.xpath("//h1")]
    h1 = [h for h in h1 if h]
    return h1[0] if h1 else page_title


def guess_published(response: Any, title: str = "") -> str:
    """A date-time string from <meta> tags or the page text near the title ("" if none)."""
    meta = ""
    for node in response.xpath("//meta[@content]"):
        key = (node.attrib.get("property") or node.attrib.get("name")
               or node.attrib.get("itemprop") or "").strip().lower()
        if key in _META_DATE_NAMES and _DATE_IN_TEXT.search(node.attrib["content"]):
            meta = node.attrib["content"].strip()
            break
    if meta and _HAS_TIME.search(_DATE_IN_TEXT.search(meta).group(0)):
        return meta
    texts = response.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"
                           ).getall()
    start = 0
    if title:
        for i, text in enumerate(texts):
            if title[:12] in text:
                start = i
                break
    seen = 0
    for text in texts[start:]:
        found = _DATE_IN_TEXT.search(text)
        if found:
            printed = found.group(0)
            if not meta or _HAS_TIME.search(printed):
                if not meta or _same_day(meta, printed):
                    return printed
            break
        seen += len(text)
        if seen > 4000:
            break
    return meta


def _same_day(a: str, b: str) -> bool:
    digits = [re.findall(r"\d+", _DATE_IN_TEXT.search(x).group(0))[:3] for x in (a, b)]
    return [int(x) for x in digits[0]] == [int(x) for x in digits[1]]


def _own_text(el: Any) -> tuple[int, int]:
    """Word characters directly in ``el`` (text and children's tails) and in its links."""
    words = _count(el.text)
    links = 0
    for child in el:
        words += _count(child.tail)
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "a":
            links += _count(child.text_content())
    return words, links


def _noisy(el: Any) -> bool:
    label = f"{el.get('class', '')} {el.get('id', '')}"
    return bool(label.strip()) and bool(_NOISE.search(label))


def main_text(response: Any, min_chars: int = 40) -> str:
    """The page's main text by paragraph-text density ("" when no block looks like content)."""
    root = response.selector.root
    if not hasattr(root, "iter"):
        return ""
    scores: dict[Any, float] = {}
    # iterate the whole tree, not only <body>: broken pages put content after a stray </html>
    tops = [root, *root.itersiblings()]  # lxml keeps a second <html> as a sibling
    for el in (el for top in tops for el in top.iter()):
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag or tag in DROP_TAGS or tag in _NOT_PARAGRAPHS:
            continue
        if any(a.tag in DROP_TAGS or a.tag == "head" for a in el.iterancestors()):
            continue
        words, links = _own_text(el)
        if words < 8:
            continue
        container = el
        while container is not None and container.tag not in _CONTAINERS:
            container = container.getparent()
        if container is None:
            continue
        weight = words - 2 * links
        scores[container] = scores.get(container, 0) + weight
        parent = container.getparent()
        if parent is not None and parent.tag in _CONTAINERS:
            scores[parent] = scores.get(parent, 0) + weight * 0.4
    top = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:8]
    ranked = sorted(((score * (1 - _link_density(el)), el) for el, score in top),
                    key=lambda pair: pair[0], reverse=True)
    for _score, best in ranked[:4]:
        text = _container_text(best)
        if _count(text) >= min_chars:
            return text
    return ""


def _container_text(el: Any) -> str:
    """Block text of ``el`` without noisy descendants (share bars, comments, link lists)."""
    def skip(child: Any) -> bool:
        return child is not el and (_noisy(child) or (
            child.tag in ("ul", "ol", "div", "table", "dl") and _link_heavy(child)))
    return element_text(el, skip=skip)


def _link_density(el: Any) -> float:
    words = _count(el.text_content())
    if words == 0:
        return 1.0
    return min(1.0, sum(_count(a.text_content()) for a in el.iter("a")) / words)


def _link_heavy(el: Any) -> bool:
    return _link_density(el) > 0.5
