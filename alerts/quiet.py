"""Daily quiet hours of a channel, in the office's time zone (moved here from the outbox, which
still re-exports :class:`QuietHours`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time as dtime, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """Daily quiet hours of a channel in the office's zone: ``start`` ≤ t < ``end`` (may wrap
    midnight).  Notices below the top severity wait until ``end``; the top severity goes now."""

    start: dtime
    end: dtime
    zone: str = "Asia/Shanghai"

    @classmethod
    def parse(cls, text: str, zone: str = "Asia/Shanghai") -> "QuietHours":
        """``"22:00-07:30"`` → QuietHours (ValueError with a one-line message if malformed)."""
        try:
            a, b = (part.strip() for part in text.split("-"))
            start, end = dtime.fromisoformat(a), dtime.fromisoformat(b)
            ZoneInfo(zone)
        except Exception:  # noqa: BLE001
            raise ValueError(f"quiet hours must look like '22:00-07:00' in a known zone, "
                             f"got {text!r} ({zone})") from None
        if start == end:
            raise ValueError(f"quiet hours {text!r} are empty: start equals end")
        return cls(start, end, zone)

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours that hold at ``now`` end (UTC), or None if it is not quiet."""
        local = now.astimezone(ZoneInfo(self.zone))
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= t < self.end
            end_day = local.date()
        else:  # wraps midnight
            quiet = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not quiet:
            return None
        end = datetime.combine(end_day, self.end, tzinfo=ZoneInfo(self.zone))
        return end.astimezone(timezone.utc)

