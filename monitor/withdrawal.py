"""Telling a page that was taken down, or a worse copy of it, from a real change.

A later crawl must never replace collected content with less.  Three cases reach the pipeline:

* an **error page** served with status 200 (「抱歉，您访问的页面不存在或已被删除」, ``<title>404
  页面不存在</title>``): the page was taken down — the stored document is marked withdrawn;
* a version with **less in it** (its text block now empty, the reply gone, the text cut to under
  half): kept aside, the stored document stays as it was;
* a version that lost a date, author or unit the earlier crawl had: those are carried over.

The rules are deliberately narrow (a short page *and* an error phrase), because a citizen's post
may well say 「已被删除」; what they do not catch is stored as an ordinary update.
"""
from __future__ import annotations

import re
from datetime import timezone, tzinfo

from monitor.documents import Document

#: Longest text (characters, whitespace removed) an error page is taken to have.
ERROR_PAGE_MAX_CHARS = 300
#: A stored text at least this long that shrinks to under half is "less".
SHRINK_MIN_CHARS = 40

_ERROR_PHRASES = re.compile(
    r"页面不存在|网页不存在|页面未找到|找不到(?:您|你)?(?:要|所)?(?:访问|请求|查找)?的?(?:页面|网页)|"
    r"(?:页面|网页|信息|内容|信件|留言|文章|稿件)(?:不存在|已(?:被)?(?:删除|撤销|撤回|移除|下线))|"
    r"不存在或已(?:被)?(?:删除|撤销|移除|过期)|您(?:访问|请求)的(?:页面|网页|地址|资源)|"
    r"page\s+not\s+found|404\s*not\s*found|not\s+found|410\s*gone|"
    r"the\s+page\s+you\s+(?:requested|are\s+looking\s+for)", re.IGNORECASE)
_ERROR_TITLE = re.compile(r"^\D{0,12}\b(?:404|410)\b|错误|出错|页面不存在|页面未找到|找不到页面|"
                          r"not\s+found|^\s*error\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

#: Fields an earlier crawl may have read that a later one missed; carried over when empty.
CARRIED_FIELDS = ("published_at", "author", "place", "department", "platform_id")


def _size(text: str) -> int:
    return len(_SPACE.sub("", text or ""))


def error_page(doc: Document) -> str | None:
    """Why ``doc`` looks like a site's "page not found" page served with status 200, or None."""
    body = f"{doc.text} {doc.reply.text if doc.reply else ''}"
    if _size(body) > ERROR_PAGE_MAX_CHARS:
        return None
    title_hit = _ERROR_TITLE.search(doc.title or "")
    text_hit = _ERROR_PHRASES.search(body) or _ERROR_PHRASES.search(doc.title or "")
    if text_hit and (title_hit or _size(body) <= ERROR_PAGE_MAX_CHARS // 2):
        return f"error page ({text_hit.group(0).strip()[:30]})"
    if title_hit and _size(body) <= 20:
        return f"error page (title {doc.title.strip()[:30]!r})"
    return None


def less_than(new: Document, old: Document) -> str | None:
    """Why ``new`` holds less than the stored ``old`` (so must not replace it), or None."""
    if old.text.strip() and not new.text.strip():
        return "text is empty now"
    if old.title.strip() and not new.title.strip():
        return "title is empty now"
    if old.replied and not new.replied:
        return "the reply is gone"
    old_size, new_size = _size(old.text), _size(new.text)
    if old_size >= SHRINK_MIN_CHARS and new_size * 2 < old_size:
        return "text shrank to under half"
    return None


def carry_over(new: Document, old: Document, tz: tzinfo = timezone.utc) -> list[str]:
    """Copy into ``new`` the fields ``old`` had and ``new`` lost; return their names.

    A date read without its time of day (``extra["date_only"]``) does not replace a stored time
    on the same local date (``tz``): the list page said 11-24, the detail page 11-24 09:30.
    """
    carried = []
    for name in CARRIED_FIELDS:
        if getattr(new, name) in (None, "") and getattr(old, name) not in (None, ""):
            setattr(new, name, getattr(old, name))
            carried.append(name)
    if "published_at" in carried:
        if old.extra.get("date_only"):
            new.extra["date_only"] = True
        else:
            new.extra.pop("date_only", None)
    elif (new.extra.get("date_only") and not old.extra.get("date_only") and old.published_at
          and new.published_at and old.published_at.astimezone(tz).date()
          == new.published_at.astimezone(tz).date()):
        new.published_at = old.published_at
        new.extra.pop("date_only", None)
        carried.append("published_at")
    return carried
