"""Fault injection: latency, 429 + Retry-After, seeded 5xx, lost POST responses; concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from cw_simulator import LOST_RESPONSE
from tests.simulator.conftest import Api

ADDITIONS = "/finance/agreements/1/additions"
NEW_ADDITION = {"product": {"id": 1}, "quantity": 3, "billCustomer": "Billable"}


def test_latency_delays_every_api_call(api, state):
    state.faults.latency_seconds = 0.2
    started = time.monotonic()
    api("GET", "/system/info")
    assert time.monotonic() - started >= 0.2


def test_rate_limit_answers_429_with_retry_after_and_commits_nothing(api, state):
    state.faults.rate_limit_probability = 1.0
    state.faults.retry_after_seconds = 7
    response = api("POST", ADDITIONS, json=NEW_ADDITION)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert len(state.additions(1)) == 2
    assert state.log[-1].status == 429


def test_server_errors_follow_the_seed(api, state):
    def statuses() -> list[int]:
        state.faults.seed = 42  # assigning the seed restarts the random sequence
        return [api("GET", "/system/info").status_code for _ in range(20)]

    state.faults.server_error_probability = 0.5
    first = statuses()
    assert first == statuses()
    assert set(first) - {200} <= {500, 502, 503}
    assert 200 in first and len(set(first)) > 1


def test_faults_spare_companyinfo_and_control_endpoints(simulator, state):
    state.faults.server_error_probability = 1.0
    assert requests.get(f"{simulator.site}/login/companyinfo/training", timeout=5).ok
    assert requests.get(f"{simulator.site}/__simulator/stats", timeout=5).ok


def test_lost_post_response_commits_but_the_client_sees_a_connection_error(api, state):
    state.faults.lose_next_posts = 1
    with pytest.raises(requests.ConnectionError):
        api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=5)
    assert [a["quantity"] for a in state.additions(1)] == [5.0, 2.0, 3.0]
    assert state.log[-1].status == LOST_RESPONSE
    assert state.faults.lose_next_posts == 0
    assert api("POST", ADDITIONS, json=NEW_ADDITION).status_code == 201


def test_lost_post_probability_and_failed_posts_are_not_lost(api, state):
    state.faults.lose_post_response_probability = 1.0
    assert api("POST", ADDITIONS, json={"quantity": 1}, spec_request=False).status_code == 400
    assert api("PATCH", f"{ADDITIONS}/1", json=[
        {"op": "replace", "path": "quantity", "value": 8}]).status_code == 200  # fmt: skip
    with pytest.raises(requests.ConnectionError):
        api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=5)
    assert len(state.additions(1)) == 3


def test_concurrent_posts_get_unique_ids(simulator, state):
    created: list[int] = []

    def post_ten(n: int) -> None:
        caller = Api(simulator)
        for i in range(10):
            body = {**NEW_ADDITION, "quantity": n * 100 + i}
            created.append(caller("POST", ADDITIONS, json=body).json()["id"])

    threads = [threading.Thread(target=post_ten, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == len(set(created)) == 80
    assert sorted(created) == list(range(4, 84))
    quantities = {a["quantity"] for a in state.additions(1)}
    assert {float(n * 100 + i) for n in range(8) for i in range(10)} <= quantities
