"""The sync engine: gather -> plan -> apply -> record, one run per partner at a time."""

from billing_sync.sync.apply import ItemReport
from billing_sync.sync.runner import RunHandle, RunReport, begin_run, execute_run, run_sync

__all__ = ["ItemReport", "RunHandle", "RunReport", "begin_run", "execute_run", "run_sync"]
