"""A test's child process dies with the process that started it, even on SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.lifeline import tied_to_parent

# A parent that starts a long-lived tied child, prints its pid, then waits to be killed.
PARENT = """
import subprocess, sys, time
from tests.support.lifeline import tied_to_parent
child = subprocess.Popen(tied_to_parent("-c", "import time; time.sleep(120)"),
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has died; only its exit status waits to be read.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_tied_child_in_its_own_session_dies_when_its_parent_is_killed():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=root, stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the child has exec'd its program by now
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived its killed parent"


def test_the_tied_command_runs_the_program_with_its_arguments():
    result = subprocess.run(
        tied_to_parent("-c", "import sys; print(sys.argv[1:])", "a", "b c"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['a', 'b c']"
