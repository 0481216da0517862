"""Choosing the text encoding of a page whose declarations may lie (no Scrapy import here).

* a source's ``encoding`` key forces that encoding;
* a body that is valid UTF-8 (and not plain ASCII) is UTF-8, whatever was declared; so is one
  that is UTF-8 but for a few broken bytes (at most one non-ASCII character in five unreadable,
  where GBK, Big5 or UTF-16 read as UTF-8 lose two in three or more: the broken bytes become
  replacement characters, counted as "undecodable bytes");
* a body that is not valid UTF-8 keeps a declared encoding that decodes it cleanly, unless that
  declaration is UTF-8 or a Latin-1 default, or there is none, in which case gb18030 (a superset
  of GBK/GB2312) is tried ("charset corrected": whatever the page was going to be read with was
  wrong); a page nothing decodes cleanly is read with replacement characters and counted.

``declared`` must be what the response declares, not a guess from its bytes (Scrapy guesses
``cp949`` or ``iso8859-5`` for short GBK pages, and those decode anything).
"""
from __future__ import annotations

import codecs

#: Declarations that say nothing reliable about a Chinese page that is not UTF-8.
_UNRELIABLE = {"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252", "windows-1252"}


def _norm(encoding: str | None) -> str:
    if not encoding:
        return ""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding.lower()


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _mostly_utf8(body: bytes) -> bool:
    """True when a body that is not valid UTF-8 still reads as UTF-8 but for a few bytes.

    Text in GBK, Big5 or UTF-16 read as UTF-8 turns almost every non-ASCII character into a
    replacement character; a UTF-8 page with a stray byte loses only that byte, and reading it
    as GB18030 instead would garble every character of the page.
    """
    text = body.decode("utf-8", errors="replace")
    wide = len(text) - len(text.encode("ascii", errors="ignore"))
    bad = text.count("\ufffd")
    return wide >= 20 and bad * 5 <= wide  # GBK, Big5, UTF-16 as UTF-8: 65–100 % unreadable


def choose_encoding(body: bytes, declared: str | None, forced: str | None = None
                    ) -> tuple[str | None, str | None]:
    """The encoding to read ``body`` with and a warning name, given what the response declared.

    Returns ``(None, None)`` when the declared encoding is right.
    """
    declared_n = _norm(declared)
    if forced:
        return (None, None) if _norm(forced) == declared_n else (forced, None)
    if _decodes(body, "utf-8"):
        if declared_n == "utf-8" or body.isascii():
            return None, None
        if not declared_n:  # nothing declared: UTF-8 is what it is, and no correction
            return "utf-8", None
        return "utf-8", "charset corrected"
    if _mostly_utf8(body):  # a UTF-8 page with a few broken bytes is still a UTF-8 page
        return ("utf-8" if declared_n != "utf-8" else None), "undecodable bytes"
    if declared_n and declared_n not in _UNRELIABLE and _decodes(body, declared_n):
        if declared_n in ("gb2312", "gbk"):  # gb18030 also reads the rarer characters
            return "gb18030", None
        return None, None
    if _decodes(body, "gb18030"):
        return "gb18030", "charset corrected"
    return ("gb18030" if declared_n in _UNRELIABLE or not declared_n else None,
            "undecodable bytes")
