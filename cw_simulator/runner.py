"""Run the simulator in the foreground (for `billing-sync simulator`, the demo, benchmarks)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from cw_simulator.seed import state_from_seed
from cw_simulator.server import Simulator
from cw_simulator.store import SimulatorState

EXAMPLE_SEED = Path(__file__).with_name("example_seed.json")


def load_seed_file(path: str | Path) -> SimulatorState:
    """A state from a seed JSON file (format: see example_seed.json)."""
    return state_from_seed(json.loads(Path(path).read_text(encoding="utf-8")))


def serve_forever(
    state: SimulatorState,
    host: str = "127.0.0.1",
    port: int = 8123,
    on_ready: Callable[[Simulator], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve `state` until SIGINT/SIGTERM or `stop` is set; `on_ready` runs once bound."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    with Simulator(state).start(host, port) as simulator:
        if on_ready is not None:
            on_ready(simulator)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def run_simulator(host: str, port: int, seed_path: str | None, latency: float = 0.0) -> None:
    """Load the seed (default: the example seed), print the site URL on stdout, serve until
    SIGINT/SIGTERM."""
    state = load_seed_file(seed_path or EXAMPLE_SEED)
    state.faults.latency_seconds = latency
    serve_forever(state, host, port, on_ready=lambda sim: print(sim.site, flush=True))
