"""The sync engine: gather -> plan -> apply -> record, one run per partner at a time."""

from billing_sync.sync.report import ItemReport, RunReport
from billing_sync.sync.runner import RunHandle, begin_run, execute_run, run_sync

__all__ = ["ItemReport", "RunHandle", "RunReport", "begin_run", "execute_run", "run_sync"]
