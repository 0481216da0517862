"""Window rule types: frequency, spike, flatline, cross_channel (evaluated on a schedule)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from alerts.ruletypes._common import (EventProvider, Firing, Group, base_query, doc_groups,
                                      group_label, grouped_counts, needs_scan, resolved, scan,
                                      top_documents, window_at)
from monitor.store import Store


class RuleType:
    """Base of every type: ``evaluate(store, now, active=…)`` returns firings and resolutions.

    ``active`` holds the keys (:attr:`Firing.key`) of the groups the caller currently has
    firing; a group in it whose condition no longer holds comes back with ``resolved=True``.
    """

    per_document = False

    def __init__(self, rule):
        self.rule = rule

    def evaluate(self, store: Store, now: datetime, *, active: Iterable[Group] = (),
                 events: EventProvider | None = None, **_) -> list[Firing]:
        raise NotImplementedError


def _minutes(rule) -> str:
    m = rule.params["window_minutes"]
    return f"{m // 60} 小时" if m % 60 == 0 else f"{m} 分钟"


class Frequency(RuleType):
    """At least ``min_count`` matching documents in the window, per group."""

    def evaluate(self, store, now, *, active=(), events=None, **_):
        rule, (start, end) = self.rule, window_at(self.rule, now)
        counts = grouped_counts(store, rule, start, end, events)
        need = rule.params["min_count"]
        out, firing = [], set()
        for g, n in sorted(counts.items()):
            if n >= need:
                firing.add(g)
                out.append(Firing(rule, dict(g), n, (start, end),
                                  top_documents(store, rule, start, end, g, events),
                                  f"{group_label(g)}：{_minutes(rule)}内 {n} 条相关信息"
                                  f"（阈值 {need} 条）"))
        return out + resolved(rule, active, firing, (start, end), counts,
                              f"{_minutes(rule)}内降至 {need} 条以下")


class Spike(RuleType):
    """This window against the one before: up (``now ≥ ratio × before``) or down."""

    def evaluate(self, store, now, *, active=(), events=None, **_):
        rule, p = self.rule, self.rule.params
        start, end = window_at(rule, now)
        before = start - timedelta(minutes=p["window_minutes"])
        cur = grouped_counts(store, rule, start, end, events)
        prev = grouped_counts(store, rule, before, start, events)
        out, firing = [], set()
        for g in sorted(set(cur) | set(prev)):
            c, b = cur.get(g, 0), prev.get(g, 0)
            up = (p["direction"] in ("up", "both") and c >= p["min_count"]
                  and b >= p["min_previous"] and c >= p["ratio"] * b and c > b)
            down = (p["direction"] in ("down", "both") and b >= p["min_count"]
                    and c * p["ratio"] <= b and c < b)
            if not (up or down):
                continue
            firing.add(g)
            word = "激增" if up else "骤降"
            times = f"{c / b:.1f} 倍" if b else "此前为 0"
            out.append(Firing(rule, dict(g), c, (start, end),
                              top_documents(store, rule, start, end, g, events),
                              f"{group_label(g)}：信息量{word}，近{_minutes(rule)} {c} 条，"
                              f"前{_minutes(rule)} {b} 条（{times}）"))
        return out + resolved(rule, active, firing, (start, end), cur, "信息量恢复正常")


class Flatline(RuleType):
    """Fewer than ``below`` documents in the window (a source that went quiet).

    The groups watched are ``expect`` (values of the single group field), every group seen in
    the ``history_minutes`` before the window or in the window itself, and the active ones.
    """

    def evaluate(self, store, now, *, active=(), events=None, **_):
        rule, p = self.rule, self.rule.params
        start, end = window_at(rule, now)
        counts = grouped_counts(store, rule, start, end, events)
        watched: set[Group] = set()
        if not rule.group_by:
            watched.add(())
        elif len(rule.group_by) == 1:
            watched |= {((rule.group_by[0], v),) for v in p["expect"]}
        if rule.group_by and p["history_minutes"]:
            history = start - timedelta(minutes=p["history_minutes"])
            watched |= set(grouped_counts(store, rule, history, start, events))
        watched |= set(active) | set(counts)
        out, firing = [], set()
        for g in sorted(watched):
            n = counts.get(g, 0)
            if n < p["below"]:
                firing.add(g)
                out.append(Firing(rule, dict(g), n, (start, end), [],
                                  f"{group_label(g)}：近{_minutes(rule)}仅 {n} 条信息"
                                  f"（低于 {p['below']} 条），可能已停止更新"))
        return out + resolved(rule, active, firing, (start, end), counts, "已恢复更新")


class CrossChannel(RuleType):
    """The same query on at least ``min_channels`` channels within the window, per group."""

    def evaluate(self, store, now, *, active=(), events=None, **_):
        rule, need = self.rule, self.rule.params["min_channels"]
        start, end = window_at(rule, now)
        channels: dict[Group, dict[str, int]] = {}
        if not rule.group_by and not needs_scan(rule, []):
            by = store.count_by_field(base_query(rule, start, end), "channel")
            if by:
                channels[()] = by
        else:
            for doc in scan(store, base_query(rule, start, end), rule):
                for g in doc_groups(rule, doc, None, events):
                    per = channels.setdefault(g, {})
                    per[doc.channel] = per.get(doc.channel, 0) + 1
        out, firing = [], set()
        counts = {g: sum(v.values()) for g, v in channels.items()}
        for g, per in sorted(channels.items()):
            if len(per) >= need:
                firing.add(g)
                names = "、".join(sorted(per))
                out.append(Firing(rule, dict(g), counts[g], (start, end),
                                  top_documents(store, rule, start, end, g, events),
                                  f"{group_label(g)}：{_minutes(rule)}内 {len(per)} 个渠道"
                                  f"（{names}）出现相同内容，共 {counts[g]} 条"))
        return out + resolved(rule, active, firing, (start, end), counts,
                              f"少于 {need} 个渠道")
