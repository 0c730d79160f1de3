"""Fault injection knobs: latency, rate limiting, server errors, lost POST responses."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    """Fault injection knobs, read on every API call (safe to change while serving)."""

    latency_seconds: float = 0.0
    rate_limit_probability: float = 0.0
    retry_after_seconds: int = 1
    server_error_probability: float = 0.0
    lose_post_response_probability: float = 0.0
    lose_next_posts: int = 0
    seed: int | None = None
    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Assigning `seed` (even the same value again) restarts the random sequence.
        if name == "seed":
            object.__setattr__(self, "_rng", None)
        object.__setattr__(self, name, value)

    def rng(self) -> random.Random:
        """The random source, seeded from `seed`, so a seeded run is reproducible."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def chance(self, probability: float) -> bool:
        """True with `probability` (never draws when it is 0, keeping seeded sequences stable)."""
        return probability > 0 and self.rng().random() < probability

    def to_dict(self) -> dict[str, Any]:
        """The public knobs as plain JSON values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def update(self, changes: dict[str, Any]) -> None:
        """Merge `changes` (JSON names = attribute names); ValueError on an unknown or bad knob."""
        current = self.to_dict()
        for name, value in changes.items():
            if name not in current:
                raise ValueError(f"unknown fault {name!r} (known: {sorted(current)})")
            if not _valid_fault(name, value):
                raise ValueError(f"fault {name!r} got an invalid value {value!r}")
        for name, value in changes.items():
            setattr(self, name, int(value) if name in _INT_FAULTS else value)


_INT_FAULTS = {"retry_after_seconds", "lose_next_posts"}


def _valid_fault(name: str, value: Any) -> bool:
    if name == "seed":
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return False
    if name in _INT_FAULTS:
        return float(value).is_integer()
    return value <= 1 if name.endswith("_probability") else True
