"""plan_roster on plain values: a snapshot of users against the seats held at its instant."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_sync.rosters import plan_roster

AS_OF = datetime(2026, 3, 5, tzinfo=UTC)
EARLIER = datetime(2026, 3, 1, tzinfo=UTC)


def test_new_users_open_absent_users_close_and_kept_users_stay():
    held = {"a": [(1, EARLIER, "a@x")], "b": [(2, EARLIER, "b@x")]}
    plan = plan_roster(held, {"b": "b@x", "c": None}, AS_OF)
    assert (plan.opened, plan.closed, plan.removed, plan.emails) == ([("c", None)], [1], [], [])
    assert (plan.users_kept, plan.users_updated) == (1, 0)


def test_the_same_snapshot_again_plans_nothing():
    held = {"b": [(2, EARLIER, "b@x")], "c": [(3, AS_OF, None)]}
    plan = plan_roster(held, {"b": "b@x", "c": None}, AS_OF)
    assert (plan.opened, plan.closed, plan.removed, plan.emails) == ([], [], [], [])


def test_a_seat_opened_at_the_same_instant_is_removed_not_closed_empty():
    plan = plan_roster({"c": [(3, AS_OF, None)]}, {}, AS_OF)
    assert (plan.closed, plan.removed) == ([], [3])


def test_a_changed_email_updates_every_held_seat_of_the_user():
    held = {"a": [(1, EARLIER, "old@x"), (4, EARLIER, "old@x")]}
    plan = plan_roster(held, {"a": "new@x"}, AS_OF)
    assert plan.emails == [(1, "new@x"), (4, "new@x")] and plan.users_updated == 1
