"""`sync` draws click's progress bar on a terminal only."""

from __future__ import annotations

import io

from billing_sync.cli.sync_cmd import progress_bar


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_counts_items_up_to_the_total(monkeypatch):
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)

    with progress_bar() as progress:
        for done in range(1, 6):
            progress(done, 5)

    drawings = stderr.getvalue().split("\r")
    assert any("syncing" in d and "1/5" in d for d in drawings)
    assert "syncing  [" + "#" * 36 + "]  5/5" in drawings[-1]  # the last one is the full bar
    assert drawings[-1].endswith("\n")  # closed: the prompt starts on its own line


def test_the_bar_is_closed_even_when_the_run_stops_early(monkeypatch):
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)

    with progress_bar() as progress:
        progress(2, 5)

    assert "2/5" in stderr.getvalue() and stderr.getvalue().endswith("\n")


def test_off_a_terminal_nothing_is_drawn(monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)

    with progress_bar() as progress:
        assert progress is None

    assert stderr.getvalue() == ""
