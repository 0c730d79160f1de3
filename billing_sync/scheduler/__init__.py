"""The scheduler: daily/weekly and month-close runs from persisted state, alerts on failure."""

from billing_sync.scheduler.loop import run_scheduler, start_scheduler_thread
from billing_sync.scheduler.service import next_runs, set_alerts, set_schedule

__all__ = ["next_runs", "run_scheduler", "set_alerts", "set_schedule", "start_scheduler_thread"]
