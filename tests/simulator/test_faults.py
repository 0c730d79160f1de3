"""Fault injection: latency, 429 + Retry-After, seeded 5xx, slow, failed, lost and corrupt POST
answers; concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from cw_simulator import LOST_RESPONSE
from cw_simulator.faults import Faults
from tests.simulator.conftest import Api, body_of
from tests.support.cw_openapi import check_response

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


def test_a_slow_post_commits_after_the_client_gave_up_quietly(api, state, capfd):
    state.faults.post_commit_delay_seconds = 0.5
    with pytest.raises(requests.Timeout):
        api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=0.2)
    assert len(state.additions(1)) == 2  # not committed yet: the server is still waiting

    deadline = time.monotonic() + 5
    while len(state.additions(1)) == 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)  # let the handler try to answer the client that left

    assert [a["quantity"] for a in state.additions(1)] == [5.0, 2.0, 3.0]
    assert (state.log[-1].status, state.log[-1].faults) == (201, ("slow_post",))
    assert "Traceback" not in capfd.readouterr().err
    state.faults.post_commit_delay_seconds = 0
    assert api("GET", "/system/info").status_code == 200


def test_a_slow_post_answers_after_its_delay_to_a_patient_client(api, state):
    state.faults.post_commit_delay_seconds = 0.3
    started = time.monotonic()
    assert api("POST", ADDITIONS, json=NEW_ADDITION).status_code == 201
    assert time.monotonic() - started >= 0.3
    assert api("GET", "/system/info").status_code == 200  # only creates are slowed
    assert state.log[-1].faults == ()


def test_fail_nth_post_fails_that_post_alone_and_commits_nothing(api, state):
    api("POST", ADDITIONS, json=NEW_ADDITION)  # before the knob: not counted
    state.faults.fail_nth_post = 2

    statuses = [api("POST", ADDITIONS, json=NEW_ADDITION).status_code for _ in range(3)]

    assert statuses == [201, 409, 201]
    assert len(state.additions(1)) == 2 + 3
    failed = state.log[-2]
    assert (failed.status, failed.faults) == (409, ("forced_error",))
    assert state.faults.fail_nth_post == 0


def test_fail_nth_post_through_the_control_endpoint_with_its_status(simulator, api, state):
    knobs = {"fail_nth_post": 1, "fail_post_status": 503}
    set_ = requests.post(f"{simulator.site}/__simulator/faults", json=knobs, timeout=5)
    assert set_.json()["fail_nth_post"] == 1

    response = api("POST", ADDITIONS, json=NEW_ADDITION)

    assert response.status_code == 503
    assert set(response.json()) == {"code", "message", "errors"}
    assert len(state.additions(1)) == 2
    assert api("POST", ADDITIONS, json=NEW_ADDITION).status_code == 201
    faults = requests.get(f"{simulator.site}/__simulator/faults", timeout=5).json()
    assert (faults["fail_nth_post"], faults["fail_post_status"]) == (0, 503)


def test_corrupt_next_posts_commit_but_answer_a_body_that_is_no_addition(api, state):
    state.faults.corrupt_next_posts = 2

    answers = [api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=5)
               for _ in range(3)]  # fmt: skip

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.json() for a in answers[:2]] == [{"id": "not-a-number"}] * 2
    with pytest.raises(AssertionError):
        check_response("POST", api.base + ADDITIONS, 201, body_of(answers[0]))
    check_response("POST", api.base + ADDITIONS, 201, body_of(answers[2]))
    assert len(state.additions(1)) == 2 + 3
    assert [e.faults for e in state.log] == [("corrupt_answer",)] * 2 + [()]
    assert state.faults.corrupt_next_posts == 0


def test_a_lost_answer_is_not_also_corrupt_and_keeps_the_corrupt_count(api, state):
    state.faults.lose_next_posts = 1
    state.faults.corrupt_next_posts = 1
    with pytest.raises(requests.ConnectionError):
        api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=5)
    assert state.faults.corrupt_next_posts == 1
    answer = api.session.post(api.base + ADDITIONS, json=NEW_ADDITION, timeout=5)
    assert answer.json() == {"id": "not-a-number"}
    assert len(state.additions(1)) == 4


def test_stats_count_the_faults_that_fired(simulator, api, state):
    state.faults.fail_nth_post = 1
    state.faults.rate_limit_probability = 1.0
    api("GET", "/system/info")
    state.faults.rate_limit_probability = 0
    api("POST", ADDITIONS, json=NEW_ADDITION)
    stats = requests.get(f"{simulator.site}/__simulator/stats", timeout=5).json()
    assert stats["byFault"] == {"rate_limited": 1, "forced_error": 1}
    assert state.fault_counts() == stats["byFault"]


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


def test_forbidden_knob_answers_403_with_an_error_body_and_is_set_over_http(api, state):
    faults = Faults()
    faults.update({"forbidden": ["GET /procurement/catalog"]})
    assert faults.to_dict()["forbidden"] == ["GET /procurement/catalog"]
    with pytest.raises(ValueError):
        faults.update({"forbidden": "GET /procurement/catalog"})
    state.faults.forbidden = ["GET /procurement/catalog"]
    refused = api("GET", "/procurement/catalog")
    assert refused.status_code == 403 and refused.json()["code"] == "Forbidden"
    assert api("GET", "/company/companies").status_code == 200
