"""Commands for test child processes that die with the test run, however the run ends."""

from __future__ import annotations

import os
import sys

# Runs in the child before the real program: PR_SET_PDEATHSIG (1) asks Linux to SIGKILL (9)
# this process when its parent dies, and the setting survives the exec that follows. A test
# run killed midway would otherwise leave workers and schedulers (each in its own session)
# taking jobs from the next run's Redis database.
_PRELUDE = (
    "import ctypes, os, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, 9)\n"
    "    if os.getppid() != int(sys.argv[1]):\n"
    "        sys.exit('the test run ended before its child started')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def tied_to_parent(*python_args: str) -> list[str]:
    """`python *python_args` as a command that is killed when this process dies."""
    return [sys.executable, "-c", _PRELUDE, str(os.getpid()), *python_args]
