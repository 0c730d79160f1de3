"""A faithful ConnectWise Manage simulator on loopback, for tests, the demo and benchmarks.

Control endpoints under `/__simulator/` (stats, faults, reset-log, seed) have no auth: test-only.
"""

from billing_sync.simulator.runner import load_seed_file, run_simulator, serve_forever
from billing_sync.simulator.server import Simulator
from billing_sync.simulator.state import LOST_RESPONSE, Faults, LoggedRequest, SimulatorState

__all__ = [
    "LOST_RESPONSE",
    "Faults",
    "LoggedRequest",
    "Simulator",
    "SimulatorState",
    "load_seed_file",
    "run_simulator",
    "serve_forever",
]
