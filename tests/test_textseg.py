"""Segmentation: rjieba (fast) and jieba (reference) must cut text into the same tokens, since the
full-text index and the queries must agree whichever one a process used."""
from __future__ import annotations

import csv

import pytest

from conftest import SHARED_DATA
from monitor import textseg

jieba = pytest.importorskip("jieba")
rjieba = pytest.importorskip("rjieba")

EDGE_CASES = ["XZXX-2026-0042号信件", "COVID-19疫苗 vaccination plan", "ＡＢＣ全角１２３",
              "😀表情\x00控制\u200b零宽", "中华人民共和国万岁！！", "a" * 50, "景蓉华苑小区",
              "1.2万 10w+ 3.14", "https://www.example.gov.cn/a?b=1", "换行\n\r\t制表",
              "e-mail: test@example.com", "京ICP备12345号", "¥100元 $5 50%", "繁體中文測試",
              "日本語のテキスト", "한국어", "ñandú café", "", " ", "北京地铁站口罩"]


def _jieba_tokens(text: str) -> list[str]:
    return [t for t in textseg.tokenizer().cut(text, HMM=False) if t.strip()]


def _jieba_subwords(words: list[str]) -> list[str]:
    freq = textseg.tokenizer().FREQ
    return [w[i:i + n] for w in words if len(w) > 2 for n in (2, 3) if len(w) > n
            for i in range(len(w) - n + 1) if freq.get(w[i:i + n])]


def _texts() -> list[str]:
    texts = list(EDGE_CASES)
    for path in sorted(SHARED_DATA.glob("*/*.csv"))[:12]:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if i >= 400:
                    break
                texts.append(" ".join(row)[:2000])
    return texts


def test_fast_and_reference_cutters_agree():
    texts = _texts()
    for text in texts:
        fast = textseg.tokens(text)
        assert fast == _jieba_tokens(text), text[:80]
        assert textseg.subwords(fast) == _jieba_subwords(fast), text[:80]
    assert len(texts) > len(EDGE_CASES) or not SHARED_DATA.exists()


def test_tokens_drop_whitespace_and_keep_punctuation():
    assert textseg.tokens("小区 停车，难！") == ["小区", "停车", "，", "难", "！"]
    assert textseg.segment("北京地铁站") == "北京 地铁站"
