"""The result type of the ``rank_risk`` hook."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RiskAssessment:
    """A risk score in [0, 1] and the reasons that produced it, for people to read."""

    score: float
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.score = min(1.0, max(0.0, float(self.score)))

    @classmethod
    def coerce(cls, value) -> "RiskAssessment | None":
        """Accept what a ``rank_risk`` implementation may return (assessment, number or None)."""
        if value is None or isinstance(value, RiskAssessment):
            return value
        if isinstance(value, (int, float)):
            return cls(float(value))
        if isinstance(value, tuple) and len(value) == 2:
            return cls(float(value[0]), list(value[1]))
        raise TypeError(f"rank_risk returned {type(value).__name__}, expected RiskAssessment")
