"""Carry out a begun run, whatever its kind: a sync, or a rollback of an earlier run."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from billing_sync.settings import Settings
from billing_sync.sync.handle import RunHandle
from billing_sync.sync.report import RunReport
from billing_sync.sync.rollback import TRIGGER, execute_rollback
from billing_sync.sync.runner import Clock, execute_run, system_clock


def carry_out(
    factory: sessionmaker[Session],
    settings: Settings,
    handle: RunHandle,
    *,
    stop: threading.Event | None = None,
    clock: Clock = system_clock,
) -> RunReport:
    """What a launcher's thread or a worker's job calls: the handle's trigger picks the work."""
    if handle.trigger == TRIGGER:
        return execute_rollback(factory, settings, handle, stop=stop, clock=clock)
    report = execute_run(factory, settings, handle, stop=stop, clock=clock)
    if any(i.action == "held" for i in report.items):
        # Imported here: the alert code lives under the scheduler, which imports this module.
        from billing_sync.hold_alerts import alert_new_holds

        alert_new_holds(factory, settings, handle.run_id, now=clock())
    return report
