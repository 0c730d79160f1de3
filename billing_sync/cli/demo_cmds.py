"""Commands outside the product: the ConnectWise `simulator` and the seeded `demo` (lazy)."""

from __future__ import annotations

import click

from billing_sync.cli.common import CliError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8123, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="seed JSON file")
@click.option(
    "--latency", default=0.0, show_default=True, type=float, help="seconds added to every API call"
)
def simulator(host: str, port: int, seed: str | None, latency: float) -> None:
    """Serve the ConnectWise Manage simulator until stopped (for tests, demos, benchmarks)."""
    from cw_simulator import run_simulator

    run_simulator(host, port, seed, latency)


@click.command()
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="web app port"
)
@click.option("--no-serve", is_flag=True, help="Stop after the sync instead of serving the app.")
def demo(port: int, no_serve: bool) -> None:
    """Seed a simulator and a SQLite database, preview and sync, then serve the web app."""
    from demo.showcase import run_demo

    try:
        run_demo(port=port, serve=not no_serve)
    except OSError as exc:
        raise CliError(f"demo could not start: {exc}") from exc
