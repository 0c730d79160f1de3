"""`billing-sync serve`: the web app under waitress, with the scheduler thread by default."""

from __future__ import annotations

import signal

import click

from billing_sync import metrics
from billing_sync.cli.common import echo, settings
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.logs import setup_logging


def _exit_on_sigterm(_signum, _frame) -> None:
    # Turn SIGTERM into a normal exit so the finally block stops the scheduler cleanly.
    raise SystemExit(0)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Request worker threads.",
)
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduled syncs in this process.")
def serve(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the partner web app (waitress); upgrades the schema first."""
    from waitress import create_server  # web stack loaded only by this command

    from web import create_app

    config = settings()
    config.require_secret()
    metrics.configure(config)
    setup_logging(config, info_from=("billing_sync.scheduler",))
    engine = make_engine(config.database_url)
    init_db(engine)
    with_scheduler = config.scheduler_enabled and not no_scheduler
    app = create_app(
        config, session_factory=make_session_factory(engine), start_scheduler=with_scheduler
    )
    server = create_server(app, host=host, port=port, threads=threads)
    bound = f"http://{host}:{server.effective_port}"
    runs = "queued for workers" if config.redis_url else "in this process"
    scheduler = "on" if with_scheduler else "off"
    echo(f"billing-sync web app on {bound} (scheduler {scheduler}, runs {runs})")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    state = app.extensions["billing_sync"]
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if state.stop_scheduler is not None:
            state.stop_scheduler()
        state.runs.join(timeout=30)
        engine.dispose()
