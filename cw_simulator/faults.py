"""Fault injection knobs: latency, 429, 5xx, and slow, failed, lost or corrupt POST answers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    """Fault injection knobs, read on every API call (safe to change while serving).

    "Addition POST" below means a create on `/finance/agreements/{parentId}/additions` that got
    past authentication and the random 429/5xx faults.

    `forbidden` lists "METHOD /template" strings (e.g. "GET /finance/agreements",
    "GET /procurement/catalog/{id}", "PATCH /finance/agreements/{parentId}/additions/{id}") that
    answer 403 with a ConnectWise error body, as ConnectWise does when the API member's
    security role lacks the permission; like `SimulatorState.forbidden`, settable over HTTP.
    """

    latency_seconds: float = 0.0
    rate_limit_probability: float = 0.0
    retry_after_seconds: int = 1
    server_error_probability: float = 0.0
    lose_post_response_probability: float = 0.0
    lose_next_posts: int = 0
    # The next N PATCHes commit but their answer is dropped (a write whose outcome is unknown).
    lose_next_patches: int = 0
    # An addition POST waits this long before it commits and answers (a client with a shorter
    # timeout gives up; the addition is still created).
    post_commit_delay_seconds: float = 0.0
    # The Nth addition POST counted from when this is set answers `fail_post_status`, commits
    # nothing, and sets it back to 0 (0 = off).
    fail_nth_post: int = 0
    fail_post_status: int = 409
    # The next N addition POSTs commit but answer 201 with a body that is not an Addition.
    corrupt_next_posts: int = 0
    forbidden: list[str] = field(default_factory=list)
    seed: int | None = None
    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)
    _posts_counted: int = field(default=0, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Assigning `seed` (even the same value again) restarts the random sequence; assigning
        # `fail_nth_post` restarts the count of addition POSTs.
        if name == "seed":
            object.__setattr__(self, "_rng", None)
        if name == "fail_nth_post":
            object.__setattr__(self, "_posts_counted", 0)
        object.__setattr__(self, name, value)

    def rng(self) -> random.Random:
        """The random source, seeded from `seed`, so a seeded run is reproducible."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def chance(self, probability: float) -> bool:
        """True with `probability` (never draws when it is 0, keeping seeded sequences stable)."""
        return probability > 0 and self.rng().random() < probability

    def take_post_failure(self) -> int | None:
        """Count one addition POST: the status to fail it with when it is the Nth, else None."""
        if self.fail_nth_post <= 0:
            return None
        object.__setattr__(self, "_posts_counted", self._posts_counted + 1)
        if self._posts_counted < self.fail_nth_post:
            return None
        self.fail_nth_post = 0
        return self.fail_post_status

    def take_corrupt_answer(self) -> bool:
        """Whether this committed addition POST answers a corrupt body (uses one of the N)."""
        if self.corrupt_next_posts <= 0:
            return False
        self.corrupt_next_posts -= 1
        return True

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


_INT_FAULTS = {
    "retry_after_seconds",
    "lose_next_posts",
    "lose_next_patches",
    "fail_nth_post",
    "fail_post_status",
    "corrupt_next_posts",
}


def _valid_fault(name: str, value: Any) -> bool:
    if name == "forbidden":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if name == "seed":
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return False
    if name in _INT_FAULTS and not float(value).is_integer():
        return False
    if name == "fail_post_status":
        return 400 <= value <= 599  # an error answer, never a success
    return value <= 1 if name.endswith("_probability") else True
