"""How the embedded store keeps a document whole: compact JSON, deflated with a preset dictionary.

A stored post is mostly the names of its fields (``"published_at"``, ``"risk_reasons"`` …) and a
few dozen characters of text, which plain deflate cannot shrink much; a preset dictionary that
already holds those names cuts a typical body from ≈ 620 to ≈ 230 bytes.  The first byte of a
body says how it was written, so the dictionary can change later without rewriting old rows:
never edit ``_ZDICT_1``; add a new format instead.
"""
from __future__ import annotations

import json
import zlib
from typing import Any

#: Format bytes.  b"{" (0x7b) is a plain JSON body (schema 1 and tests writing by hand).
_PLAIN, _DEFLATE_1 = 0x7B, 0x01

_ZDICT_1 = (
    '{"analysis":{"sentiment":{"label":"negative","model":"snownlp","score":0.},"topics":[],'
    '"signals":[],"places":[]},"author":null,"channel":"social","department":null,'
    '"engagement":{"comments":0,"likes":0,"reposts":0,"views":0},"extra":{"date_only":true,'
    '"date_relative":true},"id":"","kind":"message","own":false,"place":null,'
    '"platform_id":null,"published_at":"2026-11-01T00:00:00+00:00","reply":{"replied_at":'
    '"2026-11-01T00:00:00+00:00","text":"","unit":null},"risk":0.,"risk_reasons":[],'
    '"source":"","status":"replied","text":"","title":"","url":"https://www.","withdrawn_at"'
    ':null,"crawled_at":"2026-12-01T00:00:00.000000+00:00"}').encode("utf-8")

# A 4 KiB window and a small memory level: setting up a compressor is most of the cost for a
# short post (15 µs instead of 40 µs), and long pages still compress well.
_WBITS, _MEMLEVEL, _LEVEL = -12, 4, 1


def encode(json_text: str) -> bytes:
    """The stored form of a document's JSON text."""
    co = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zlib.Z_DEFAULT_STRATEGY,
                          _ZDICT_1)
    return bytes((_DEFLATE_1,)) + co.compress(json_text.encode("utf-8")) + co.flush()


def decode_text(blob: bytes | str) -> str:
    """The JSON text of a stored body (either format)."""
    if isinstance(blob, str):
        return blob
    if not blob:
        raise ValueError("empty document body")
    kind = blob[0]
    if kind == _PLAIN:
        return blob.decode("utf-8")
    if kind == _DEFLATE_1:
        do = zlib.decompressobj(_WBITS, zdict=_ZDICT_1)
        return (do.decompress(blob[1:]) + do.flush()).decode("utf-8")
    raise ValueError(f"unknown document body format 0x{kind:02x}")


def decode(blob: bytes | str) -> dict[str, Any]:
    """The document dictionary of a stored body."""
    return json.loads(decode_text(blob))
