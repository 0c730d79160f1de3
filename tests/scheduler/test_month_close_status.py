"""Where each partner's month close stands, as the scheduler leaves it; CLI and /metrics."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import event, select

from billing_sync.cli import cli
from billing_sync.models import Partner, Run, Schedule
from billing_sync.month_close_status import month_close_statuses, state_counts
from tests.scheduler.test_loop import scheduled, utc

STUCK = timedelta(hours=1)


def states(h) -> dict[str, tuple]:
    with h.factory() as session:
        found = month_close_statuses(session, h.clock.now, stuck_after=STUCK)
    return {s.partner: (s.state, str(s.period), s.run_status) for s in found}


def open_close_run(h, pid: int, status: str, started) -> int:
    with h.factory.begin() as session:
        run = Run(
            partner_id=pid,
            trigger="month_close",
            status=status,
            basis="month_end",
            started_at=started,
        )
        session.add(run)
        session.flush()
        return run.id


def test_each_partner_is_named_with_the_state_of_its_close(harness):
    h = harness
    h.clock.now = utc(2026, 2, 20, 12)
    scheduled(h, "done-msp")
    failing = scheduled(h, "failing-msp")
    scheduled(h, "off-msp", enabled=False)
    scheduled(h, "la-msp", tz="America/Los_Angeles")
    h.clock.now = utc(2026, 3, 1, 1)  # February's close fell due at 00:15 UTC
    h.tick()  # closes every enabled partner whose close is due
    with h.factory.begin() as session:  # failing-msp's close failed instead
        run = session.query(Run).filter_by(partner_id=failing).one()
        run.status, run.message = "failed", "ConnectWise answered 401: the key was revoked"
    assert states(h) == {
        "done-msp": ("done", "2026-02", "succeeded"),
        "failing-msp": ("failing", "2026-02", "failed"),
        "off-msp": ("disabled", "2026-02", None),
        "la-msp": ("waiting", "2026-02", None),  # still February in Los Angeles
    }
    h.clock.now = utc(2026, 3, 1, 9)  # 01:00 in Los Angeles: its close is due since 00:15
    assert states(h)["la-msp"] == ("due", "2026-02", None)


def test_due_queued_running_and_stuck(harness):
    h = harness
    h.clock.now = utc(2026, 2, 20, 12)
    scheduled(h, "due-msp")
    queued = scheduled(h, "queued-msp")
    running = scheduled(h, "running-msp")
    h.clock.now = utc(2026, 3, 1, 0, 30)  # a quarter of an hour after the closes fell due
    open_close_run(h, queued, "queued", utc(2026, 3, 1, 0, 16))
    open_close_run(h, running, "running", utc(2026, 3, 1, 0, 16))
    assert {name: s[0] for name, s in states(h).items()} == {
        "due-msp": "due",
        "queued-msp": "queued",
        "running-msp": "running",
    }
    h.clock.now = utc(2026, 3, 1, 3)  # nobody took or ended any of them for hours
    assert {name: s[0] for name, s in states(h).items()} == {
        "due-msp": "stuck",
        "queued-msp": "stuck",
        "running-msp": "stuck",
    }


def test_a_close_before_its_time_is_waiting_and_a_run_before_the_boundary_does_not_count(
    harness,
):
    h = harness
    h.clock.now = utc(2026, 3, 15, 12)
    pid = scheduled(h, "mid-month")
    open_close_run(h, pid, "succeeded", utc(2026, 2, 28, 23))  # January's, run late: not March's
    h.clock.now = utc(2026, 4, 1, 0, 5)  # March ended; its close is due at 00:15
    assert states(h) == {"mid-month": ("waiting", "2026-03", None)}


def test_two_queries_however_many_partners(harness):
    h = harness
    h.clock.now = utc(2026, 2, 20, 12)
    for n in range(30):
        scheduled(h, f"msp-{n:02d}")
    h.clock.now = utc(2026, 3, 1, 1)
    statements = []
    engine = h.factory.kw["bind"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with h.factory() as session:
            found = month_close_statuses(session, h.clock.now, stuck_after=STUCK)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(found) == 30 and state_counts(found)["due"] == 30
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2


def test_the_command_lists_filters_prints_json_and_exits_3_on_trouble(harness, monkeypatch):
    h = harness
    h.clock.now = utc(2026, 2, 20, 12)
    scheduled(h, "fine-msp")
    failing = scheduled(h, "failing-msp")
    h.clock.now = utc(2026, 3, 1, 1)
    h.tick()
    with h.factory.begin() as session:
        session.query(Run).filter_by(partner_id=failing).one().status = "failed"
    monkeypatch.setenv("BILLING_SYNC_DATABASE_URL", h.settings.database_url)
    monkeypatch.setenv("BILLING_SYNC_SECRET_KEY", "x" * 32)
    import billing_sync.cli.month_close_cmd as command

    monkeypatch.setattr(command, "now", lambda: h.clock.now)
    runner = CliRunner()
    table = runner.invoke(cli, ["month-close"])
    assert table.exit_code == 3, table.output
    assert "fine-msp" in table.output and "done" in table.output
    assert "failing-msp" in table.output and "failing" in table.output
    listed = runner.invoke(cli, ["month-close", "--pending", "--json"])
    assert [row["partner"] for row in json.loads(listed.output)] == ["failing-msp"]
    assert json.loads(listed.output)[0]["state"] == "failing"
    done_only = runner.invoke(cli, ["month-close", "--state", "done", "--json"])
    assert [row["partner"] for row in json.loads(done_only.output)] == ["fine-msp"]
    bad = runner.invoke(cli, ["month-close", "--state", "sideways"])
    assert bad.exit_code != 0 and "sideways" in bad.output


def test_metrics_count_partners_by_state_and_pending(harness):
    from billing_sync import health

    h = harness
    h.clock.now = utc(2026, 2, 20, 12)
    scheduled(h, "fine-msp")
    scheduled(h, "late-msp")
    scheduled(h, "off-msp", enabled=False)
    h.clock.now = utc(2026, 3, 1, 1)
    with h.factory.begin() as session:  # late-msp's scheduler never got to it
        session.get(Schedule, _schedule_id(h, "late-msp")).next_month_close_at = utc(2026, 3, 2)
    h.tick()
    h.clock.now = utc(2026, 3, 2, 3)
    families = {f.name: f for f in health.gauges(h.factory, None, h.clock.now, STUCK)}
    by_state = {
        s.labels["state"]: s.value for s in families["billing_sync_month_close_partners"].samples
    }
    assert (by_state["done"], by_state["disabled"], by_state["stuck"]) == (1, 1, 1)
    assert families["billing_sync_month_close_pending"].samples[0].value == 1


def _schedule_id(h, name: str) -> int:
    with h.factory() as session:
        return session.scalar(
            select(Schedule.id)
            .join(Partner, Partner.id == Schedule.partner_id)
            .where(Partner.name == name)
        )
