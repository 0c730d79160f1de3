"""A faithful ConnectWise Manage simulator on loopback, for tests, the demo and benchmarks.

Control endpoints under `/__simulator/` (stats, faults, reset-log, seed) have no auth: test-only.
"""

from cw_simulator.runner import load_seed_file, run_simulator, serve_forever
from cw_simulator.seed import state_from_seed
from cw_simulator.server import Simulator
from cw_simulator.store import LOST_RESPONSE, Faults, LoggedRequest, SimulatorState

__all__ = [
    "LOST_RESPONSE",
    "Faults",
    "LoggedRequest",
    "Simulator",
    "SimulatorState",
    "load_seed_file",
    "run_simulator",
    "serve_forever",
    "state_from_seed",
]
