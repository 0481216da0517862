"""Accuracy of the sentiment_snownlp plugin (and topic coverage of the topics plugin).

Sets (each skipped, with a message, when absent):

- weibo_senti_100k subset (2,400 posts, positive / negative), scored as posted and with the
  ``[表情]`` emoticon codes stripped, because its labels are believed to come from the emoticons;
- SMP2020-EWECT "virus" (8,598 COVID posts, six emotions) mapped to three classes:
  happy → positive; angry, sad, fear → negative; neural (neutral) → neutral; surprise left out.

Documents go through ``analyze_document`` exactly as in the pipeline (title + first 200
characters, default thresholds 0.35 / 0.65).  The baseline, measured in the same run, is "always
predict the majority class".

The topics plugin is checked against the 495 TipDM 2020 问政 messages with their first-level
department label: is the top topic one that belongs to that department?  Usage::

    PYTHONPATH=. python bench/bench_sentiment_accuracy.py [--limit N] \\
        [--write docs/benchmarks-analysis.md]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

from bench._data import SHARED_DATA
from monitor.documents import Document
from plugins import sentiment_snownlp

DATA = SHARED_DATA  # ../shared/data, never copied into the repository
WEIBO = DATA / "weibo_senti_100k_subset_forever1986" / "weibo_senti_100k_subset2400.csv"
SMP = DATA / "smp2020_ewect_virus_msft-vivi" / "virus_train_cleaned.json"
SMP_MAP = {"happy": "positive", "angry": "negative", "sad": "negative", "fear": "negative",
           "neural": "neutral"}
LABELS = ("negative", "neutral", "positive")
TIPDM = (DATA / "tipdm2020_c_gov_message_board_sample"
         / "attachment2_messages_with_level1_label.csv")
#: TipDM first-level label -> the taxonomy topics that belong to it (a judgement call)
TIPDM_TOPICS = {
    "城乡建设": {"住房/房地产", "城市管理", "征地拆迁", "安全生产"},
    "环境保护": {"生态环境"},
    "交通运输": {"交通出行"},
    "教育文体": {"教育", "文化旅游/体育"},
    "劳动和社会保障": {"就业/欠薪", "社会保障/救助"},
    "卫生计生": {"医疗卫生", "公共卫生/疫情", "食品药品"},
    "商贸旅游": {"营商环境/企业诉求", "产品质量/消费", "文化旅游/体育", "财政金融/税收"},
}
NOTES = """## Reading these figures

- On Weibo text SnowNLP is barely better than the majority baseline: its strength is
  on reviews like its training data (about 0.85 there, see STACK.md §2).  On weibo_senti_100k it
  calls most negative posts positive (see the confusion tables).  Without the emoticon codes it
  does slightly worse, so the emoticons help it little either way.
- The neutral class is not something SnowNLP models; the 0.35 / 0.65 thresholds turn its score
  into three labels and catch few neutral posts.
- "accuracy, plugin labels" on the two-class Weibo set counts every "neutral" as wrong.
- So the sentiment label is a hint.  The risk scorer gives negativity one weight among several
  and leans on the topics plugin's signals (emergency, collective action, rumour …), which do
  not depend on this model.  Replacing SnowNLP by a model trained on 舆情 text is the upgrade
  path (STACK.md §2 recommends retraining its Bayes class on jieba tokens, ~50× faster).
- The topic taxonomy is a keyword list, not a classifier: the TipDM figures say how often its
  first topic agrees with the department a human routed the message to.  These figures are
  in-sample: a few words (旅游, 邮政, 工程款, 公厕 …) were added to the taxonomy after reading the
  messages that matched no topic, so expect lower agreement on unseen messages.
"""
EMOTICON = re.compile(r"\[[^\[\]]{1,8}\]")


def load_weibo(strip: bool) -> list[tuple[str, str]]:
    """(text, gold label) rows of the weibo_senti_100k subset."""
    with WEIBO.open(encoding="utf-8-sig", newline="") as fh:
        rows = [(r["review"].lstrip("\ufeff"), "positive" if r["label"] == "1" else "negative")
                for r in csv.DictReader(fh)]
    return [(EMOTICON.sub("", t) if strip else t, g) for t, g in rows]


def load_smp() -> list[tuple[str, str]]:
    """(text, gold label) rows of SMP2020 virus, mapped to three classes."""
    rows = json.loads(SMP.read_text(encoding="utf-8"))
    return [(r["content"], SMP_MAP[r["label"]]) for r in rows if r["label"] in SMP_MAP]


def score(rows: list[tuple[str, str]]) -> tuple[list[tuple[float | None, str | None, str]], float]:
    """Run the plugin on every row: (score, predicted label, gold), and docs per second."""
    out = []
    start = time.perf_counter()
    for i, (text, gold) in enumerate(rows):
        document = Document(id=str(i), source="bench", channel="social", url="x", text=text)
        result = sentiment_snownlp.analyze_document(document=document, monitor=None)
        s = result["sentiment"] if result else None
        out.append((s["score"] if s else None, s["label"] if s else None, gold))
    return out, len(rows) / (time.perf_counter() - start)


def macro_f1(pairs: list[tuple[str, str]], labels: tuple[str, ...]) -> float:
    """Macro-averaged F1 over ``labels`` of (predicted, gold) pairs."""
    f1s = []
    for label in labels:
        tp = sum(1 for p, g in pairs if p == label and g == label)
        fp = sum(1 for p, g in pairs if p == label and g != label)
        fn = sum(1 for p, g in pairs if p != label and g == label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def report(name: str, scored: list, rate: float, three_way: bool) -> list[str]:
    """Markdown lines for one data set."""
    gold = Counter(g for _, _, g in scored)
    majority, majority_n = gold.most_common(1)[0]
    none = sum(1 for s, _, _ in scored if s is None)
    pairs = [(p or "neutral", g) for _, p, g in scored]
    acc = sum(p == g for p, g in pairs) / len(pairs)
    lines = [f"### {name}", "",
             f"{len(scored):,} posts ({', '.join(f'{k} {v:,}' for k, v in sorted(gold.items()))});"
             f" {none} had no Chinese text (no score, counted as neutral); {rate:.0f} docs/s.", "",
             "| measure | plugin | majority baseline |", "|---|---|---|"]
    base_pairs = [(majority, g) for _, _, g in scored]
    labels = LABELS if three_way else ("negative", "positive")
    lines.append(f"| accuracy, plugin labels (3-way, thresholds 0.35/0.65) | {acc:.3f} | "
                 f"{majority_n / len(scored):.3f} ({majority}) |")
    lines.append(f"| macro-F1 over {'/'.join(labels)} | {macro_f1(pairs, labels):.3f} | "
                 f"{macro_f1(base_pairs, labels):.3f} |")
    if not three_way:
        binary = [("positive" if (s if s is not None else 0.5) >= 0.5 else "negative", g)
                  for s, _, g in scored]
        bacc = sum(p == g for p, g in binary) / len(binary)
        lines.append(f"| accuracy, score ≥ 0.5 = positive (2-way) | {bacc:.3f} | 0.500 |")
        neutral = sum(1 for p, _ in pairs if p == "neutral")
        lines.append(f"| share labelled neutral | {neutral / len(pairs):.3f} | – |")
    else:
        polar = [(p, g) for p, g in pairs if g != "neutral"]
        pacc = sum(p == g for p, g in polar) / len(polar)
        lines.append(f"| accuracy on the positive/negative posts only | {pacc:.3f} | – |")
    confusion = Counter(pairs)
    lines += ["", "Confusion (rows gold, columns predicted):", "",
              "| gold \\ predicted | " + " | ".join(LABELS) + " |", "|---" * 4 + "|"]
    for g in LABELS:
        if gold.get(g):
            lines.append(f"| {g} | " + " | ".join(f"{confusion[(p, g)]:,}" for p in LABELS) + " |")
    return lines + [""]


def topic_report() -> list[str]:
    """Markdown lines: how often the top topic matches the TipDM department label."""
    from plugins import topics

    with TIPDM.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    conf = topics.settings(None)
    start = time.perf_counter()
    results = [(r["一级分类"], topics.classify(f"{r['留言主题']}\n{r['留言详情']}", conf)) for r in rows]
    rate = len(rows) / (time.perf_counter() - start)
    gold = Counter(label for label, _ in results)
    lines = ["## topics: TipDM 2020 问政 messages", "",
             f"{len(rows)} messages, 7 department labels; topic matching only (no keywords), "
             f"{rate:,.0f} messages/s.  Mapping label → topics is in the script.", "",
             "| label | messages | any topic | top topic fits | a top-3 topic fits |",
             "|---|---|---|---|---|"]
    totals = [0, 0, 0]
    for label, count in gold.most_common():
        mine = [res for lab, res in results if lab == label]
        fits = TIPDM_TOPICS[label]
        row = [sum(1 for r in mine if r["topics"]),
               sum(1 for r in mine if r["topics"][:1] and r["topics"][0] in fits),
               sum(1 for r in mine if fits & set(r["topics"][:3]))]
        totals = [a + b for a, b in zip(totals, row)]
        lines.append(f"| {label} | {count} | " + " | ".join(f"{v / count:.2f}" for v in row) + " |")
    n = len(rows)
    lines.append(f"| **all** | {n} | " + " | ".join(f"**{v / n:.2f}**" for v in totals) + " |")
    lines += ["", f"Baseline (always the largest label): {gold.most_common(1)[0][1] / n:.2f}.", ""]
    signals = Counter(s["name"] for _, res in results for s in res["signals"])
    lines += ["Signals raised on these messages: "
              + ", ".join(f"{k} {v}" for k, v in signals.most_common()) + ".", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Score every available set and print (or write) a Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="random sample size per set")
    parser.add_argument("--write", type=Path, help="write the report to this Markdown file")
    args = parser.parse_args(argv)
    sets = []
    if WEIBO.exists():
        sets += [("weibo_senti_100k subset, as posted", lambda: load_weibo(False), False),
                 ("weibo_senti_100k subset, [表情] codes stripped", lambda: load_weibo(True), False)]
    else:
        print(f"skipped: {WEIBO} not found", file=sys.stderr)
    if SMP.exists():
        sets.append(("SMP2020-EWECT virus, 3-way (surprise left out)", load_smp, True))
    else:
        print(f"skipped: {SMP} not found", file=sys.stderr)
    if not sets and not TIPDM.exists():
        print("no data: nothing to measure", file=sys.stderr)
        return 0
    t0 = time.perf_counter()
    sentiment_snownlp.score_text("预热")  # the import (~2 s) is not part of the throughput
    load_time = time.perf_counter() - t0
    limit = f" --limit {args.limit}" if args.limit else ""
    lines = ["# Benchmarks: analysis plugins", "",
             f"Command: `PYTHONPATH=. python bench/bench_sentiment_accuracy.py{limit}"
             " --write docs/benchmarks-analysis.md`", "",
             f"snownlp import + first call: {load_time:.1f} s. One process, one core.", "",
             "## sentiment_snownlp accuracy", ""]
    rng = random.Random(7)
    for name, load, three_way in sets:
        rows = load()
        if args.limit and len(rows) > args.limit:
            rows = rng.sample(rows, args.limit)
        scored, rate = score(rows)
        lines += report(name, scored, rate, three_way)
        print("\n".join(lines[-12:]), file=sys.stderr)
    if TIPDM.exists():
        lines += topic_report()
    else:
        print(f"skipped: {TIPDM} not found", file=sys.stderr)
    text = "\n".join(lines) + "\n" + NOTES
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
