"""SimulatorState in Python: records, seeds, faults knobs, and the foreground runners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import requests

from cw_simulator import (
    Faults,
    Simulator,
    SimulatorState,
    load_seed_file,
    serve_forever,
    state_from_seed,
)
from cw_simulator.runner import EXAMPLE_SEED
from tests.support.cw_openapi import check_response

TEMPLATES = {
    "companies": "/company/companies",
    "agreements": "/finance/agreements",
    "catalog": "/procurement/catalog",
    "additions": "/finance/agreements/{parentId}/additions",
}


def test_seed_round_trips_through_json(state):
    seed = json.loads(json.dumps(state.to_seed()))
    assert state_from_seed(seed).to_seed() == seed


def test_seeded_state_continues_ids_after_the_highest(state):
    copy = state_from_seed(state.to_seed())
    assert copy.add_company(name="Next")["id"] == 3
    assert copy.add_addition(agreement_id=1, product_id=1)["id"] == 4


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_example_seed_records_match_the_spec(kind):
    seed = load_seed_file(EXAMPLE_SEED).to_seed()
    assert seed[kind]
    check_response("GET", TEMPLATES[kind], 200, seed[kind])


def test_example_seed_documents_credentials_and_records():
    state = load_seed_file(EXAMPLE_SEED)
    assert (state.company_id, state.codebase) == ("training", "v4_6_release/")
    assert [a["id"] for a in state.additions(1, include_cancelled=False)] == [1]
    assert state.additions(2)[0]["description"] == "Password Boss Pro (vendor sync)"
    assert state.get("agreements", 3)["agreementStatus"] == "Cancelled"


def test_add_functions_reject_dangling_references():
    state = SimulatorState()
    with pytest.raises(KeyError):
        state.add_agreement(company_id=1, name="Orphan")
    with pytest.raises(ValueError):
        state.add_company(name="Twin", id=1) and state.add_company(name="Twin", id=1)


def test_additions_without_cancelled_ones(state):
    assert [a["id"] for a in state.additions(1)] == [1, 2]
    assert [a["id"] for a in state.additions(1, include_cancelled=False)] == [1]


def test_faults_update_validates_names_and_values():
    faults = Faults()
    faults.update({"lose_next_posts": 2, "rate_limit_probability": 0.5, "seed": 9})
    assert (faults.lose_next_posts, faults.rate_limit_probability, faults.seed) == (2, 0.5, 9)
    for bad in ({"nope": 1}, {"rate_limit_probability": 2}, {"lose_next_posts": 1.5},
                {"latency_seconds": -1}, {"seed": "x"}, {"post_commit_delay_seconds": -0.1},
                {"fail_nth_post": -1}, {"fail_nth_post": 1.5}, {"fail_post_status": 201},
                {"fail_post_status": 600}, {"corrupt_next_posts": True}):  # fmt: skip
        with pytest.raises(ValueError):
            faults.update(bad)


def test_post_knobs_update_as_plain_values():
    faults = Faults()
    assert faults.to_dict()["fail_post_status"] == 409
    faults.update({"post_commit_delay_seconds": 1.5, "fail_nth_post": 2.0,
                   "fail_post_status": 500, "corrupt_next_posts": 3})  # fmt: skip
    knobs = ("post_commit_delay_seconds", "fail_nth_post", "fail_post_status", "corrupt_next_posts")
    assert [faults.to_dict()[k] for k in knobs] == [1.5, 2, 500, 3]
    assert isinstance(faults.fail_nth_post, int)


def test_simulator_restarts_on_a_new_port(state):
    sim = Simulator(state).start()
    first = sim.site
    sim.stop()
    with sim:
        assert sim.site.startswith("http://127.0.0.1:")
        assert requests.get(f"{sim.site}/login/companyinfo/training", timeout=5).ok
    assert first


def test_serve_forever_stops_on_its_event(state):
    stop, ready = threading.Event(), []
    thread = threading.Thread(
        target=serve_forever, args=(state, "127.0.0.1", 0, ready.append, stop), daemon=True
    )
    thread.start()
    for _ in range(100):
        if ready:
            break
        threading.Event().wait(0.02)
    assert requests.get(f"{ready[0].site}/login/companyinfo/training", timeout=5).ok
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_run_simulator_prints_the_site_and_exits_on_sigterm():
    code = "from cw_simulator import run_simulator; run_simulator('127.0.0.1', 0, None)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        site = proc.stdout.readline().strip()
        assert requests.get(f"{site}/login/companyinfo/training", timeout=5).json()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


def test_simulator_package_does_not_import_flask():
    code = "import sys, cw_simulator; assert 'flask' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
