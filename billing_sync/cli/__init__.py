"""The `billing-sync` command: one group, commands grouped by area in sibling modules."""

from __future__ import annotations

import logging
import sys

import click

from billing_sync.cli.agreements_cmd import agreements
from billing_sync.cli.check_cmd import check
from billing_sync.cli.common import CliError, handle_errors
from billing_sync.cli.demo_cmds import demo, simulator
from billing_sync.cli.guard_cmds import drift, guardrails
from billing_sync.cli.holds_cmds import holds
from billing_sync.cli.month_close_cmd import month_close
from billing_sync.cli.orphans_cmd import orphans
from billing_sync.cli.rollback_cmd import rollback
from billing_sync.cli.setup_cmds import (
    companies,
    connection,
    init_db_command,
    integration,
    partner,
    products,
    usage,
    user,
)
from billing_sync.cli.statement_cmd import statement
from billing_sync.cli.sync_cmd import sync
from billing_sync.cli.token_cmds import token


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log requests and decisions to stderr.")
def cli(verbose: bool) -> None:
    """Keep ConnectWise agreement additions at the vendor's per-user counts."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for command in (
    init_db_command,
    partner,
    user,
    connection,
    integration,
    products,
    usage,
    companies,
    sync,
    rollback,
    month_close,
    orphans,
    agreements,
    token,
    guardrails,
    holds,
    drift,
    statement,
    check,
    simulator,
    demo,
):
    cli.add_command(command)


def _register_optional() -> None:
    """Commands of the scheduler and web areas (their modules import nothing heavy at load)."""
    from billing_sync.cli import scheduler_cmd, serve, worker_cmd

    for command in (
        scheduler_cmd.scheduler,
        scheduler_cmd.schedule,
        scheduler_cmd.alerts,
        serve.serve,
        worker_cmd.worker,
    ):
        cli.add_command(command)


_register_optional()


def main() -> None:
    """Console-script entry point: one-line errors and a non-zero exit on failure."""
    with handle_errors():
        cli.main(standalone_mode=False)


__all__ = ["CliError", "cli", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
