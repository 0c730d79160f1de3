"""`billing-sync schedule checklist` and `schedule set --checklist-days`: 0-31, one-line errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_sync.cli.scheduler_cmd import schedule
from billing_sync.models import Partner
from tests.scheduler.test_cli import invoke  # noqa: F401 - the fixture


def days(session_factory) -> int | None:
    with session_factory() as session:
        return session.scalar(select(Partner.checklist_days))


def test_checklist_days_are_shown_set_and_turned_off(invoke, session_factory):  # noqa: F811
    assert invoke(schedule, "checklist", "msp").output == (
        "msp: invoice checklist from 3 day(s) before month end\n"
    )
    assert invoke(schedule, "checklist", "msp", "5").output == (
        "msp: invoice checklist from 5 day(s) before month end\n"
    )
    assert days(session_factory) == 5
    assert invoke(schedule, "checklist", "msp", "0").output == "msp: invoice checklist off\n"
    result = invoke(schedule, "set", "msp", "daily", "--at", "02:00", "--checklist-days", "7")
    assert result.exit_code == 0 and days(session_factory) == 7


@pytest.mark.parametrize("bad", ["32", "99", "3.5", "three", "", "1e3", "٣"])
def test_bad_checklist_days_are_one_line_errors_and_change_nothing(
    invoke,  # noqa: F811
    session_factory,
    bad,
):
    result = invoke(schedule, "checklist", "msp", bad)
    set_result = invoke(schedule, "set", "msp", "daily", "--at", "02:00", "--checklist-days", bad)

    for outcome in (result, set_result):
        assert outcome.exit_code != 0
        assert (
            outcome.output.strip()
            .splitlines()[-1]
            .endswith("checklist days must be a whole number from 0 to 31")
        )
        assert "Traceback" not in outcome.output
    assert days(session_factory) is None
