"""The lose_next_patches fault: a PATCH commits but its answer never comes (outcome unknown)."""

from __future__ import annotations

import pytest
import requests

from cw_simulator import LOST_RESPONSE

ADDITION = "/finance/agreements/1/additions/1"
SET_TO_8 = [{"op": "replace", "path": "quantity", "value": 8}]


def test_a_lost_patch_answer_commits_and_counts_down(api, state):
    state.faults.lose_next_patches = 1

    with pytest.raises(requests.ConnectionError):
        api.session.patch(api.base + ADDITION, json=SET_TO_8, timeout=5)

    assert state.get("additions", 1)["quantity"] == 8.0
    assert state.log[-1].status == LOST_RESPONSE and "lost_answer" in state.log[-1].faults
    assert state.faults.lose_next_patches == 0
    assert api("PATCH", ADDITION, json=SET_TO_8).status_code == 200
