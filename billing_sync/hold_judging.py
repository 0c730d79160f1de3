"""Pure: whether one planned write trips a hold rule, and the words that say why."""

from __future__ import annotations

from dataclasses import dataclass

from billing_sync.guard_rules import HoldRules
from billing_sync.planning import TOLERANCE


@dataclass(frozen=True)
class Verdict:
    """A planned write held: the rule it tripped and a sentence naming before -> after."""

    rule: str  # rise | fall | zero | first_run | drift
    reason: str


def shown(quantity: float | None) -> str:
    """A quantity as people read it: 5, not 5.0; none when there is no addition yet."""
    return "none" if quantity is None else f"{quantity:g}"


def judge(
    rules: HoldRules, before: float | None, after: int, *, first_run_total: int | None = None
) -> Verdict | None:
    """The rule a write from `before` to `after` trips, or None when it may be sent.

    `first_run_total` is the users a partner's first real run would push, when that is more
    than its rules allow: every write of such a run is held. From nothing (no addition, or 0)
    any rise is more than every percentage, so only the users threshold decides.
    """
    was = before or 0.0
    moves = f"{shown(before)} -> {after}"
    if first_run_total is not None:
        return Verdict(
            "first_run",
            f"first run would push {first_run_total} users in all, more than "
            f"{rules.first_run_total}: {moves}",
        )
    if rules.hold_zero and after == 0 and was > TOLERANCE:
        return Verdict("zero", f"the count would go to zero: {moves}")
    if after > was + TOLERANCE:
        rise = after - was
        percent = rise / was * 100 if was > TOLERANCE else float("inf")
        if percent > rules.rise_percent and rise > rules.rise_users:
            return Verdict(
                "rise",
                f"rise of {rise:g} users ({_percent(percent)}), more than "
                f"{rules.rise_percent:g} % and {rules.rise_users} users: {moves}",
            )
    elif was > after + TOLERANCE:
        fall = was - after
        percent = fall / was * 100
        if percent > rules.fall_percent and fall > rules.fall_users:
            return Verdict(
                "fall",
                f"fall of {fall:g} users ({_percent(percent)}), more than "
                f"{rules.fall_percent:g} % and {rules.fall_users} users: {moves}",
            )
    return None


def _percent(percent: float) -> str:
    return "from nothing" if percent == float("inf") else f"{percent:.0f} %"
