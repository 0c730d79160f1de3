"""Pure hold judging: every trigger, its default, and the writes that pass."""

from __future__ import annotations

import pytest

from billing_sync.guard_rules import DEFAULT_RULES, HoldRules
from billing_sync.hold_judging import judge


@pytest.mark.parametrize(
    "before, after, rule",
    [
        (10, 16, None),  # +60 % but only 6 users
        (100, 120, None),  # 20 users but only +20 %
        (10, 21, "rise"),  # +110 % and 11 users: both trip
        (None, 11, "rise"),  # a create of 11: from nothing, any rise is over every percent
        (0, 11, "rise"),
        (None, 10, None),  # 10 users is not more than 10
        (100, 70, "fall"),  # -30 % and 30 users
        (100, 80, None),  # -20 %
        (20, 14, "fall"),  # -30 % and 6 users
        (20, 15, None),  # 5 users is not more than 5
        (3, 0, "zero"),  # to zero, however small
        (0, 0, None),
        (None, 0, None),
    ],
)
def test_default_rules(before, after, rule):
    verdict = judge(DEFAULT_RULES, before, after)

    assert (verdict.rule if verdict else None) == rule


def test_reason_names_the_rule_and_before_to_after():
    verdict = judge(DEFAULT_RULES, 10, 25)

    assert "rise of 15 users (150 %)" in verdict.reason and "10 -> 25" in verdict.reason


def test_hold_zero_off_lets_a_small_fall_to_zero_through():
    assert judge(HoldRules(hold_zero=False), 3, 0) is None
    assert judge(HoldRules(hold_zero=False), 30, 0).rule == "fall"


def test_first_run_over_the_total_holds_every_write_even_a_small_one():
    verdict = judge(DEFAULT_RULES, None, 1, first_run_total=1500)

    assert verdict.rule == "first_run" and "1500 users" in verdict.reason
