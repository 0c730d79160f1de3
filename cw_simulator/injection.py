"""Applying the fault knobs to one API call: before auth, before a create commits, after a write.

Every function appends the name of each fault it injects to `fired` (see store.FAULT_NAMES), so
the request log says which answers were shaped by a fault.
"""

from __future__ import annotations

import time

from cw_simulator.errors import ApiError, field_error
from cw_simulator.resources import Response
from cw_simulator.store import LOST_RESPONSE, SimulatorState

ADDITIONS = "/finance/agreements/{parentId}/additions"  # the template whose POST creates
LOST = Response(LOST_RESPONSE)  # sentinel: drop the socket, send no byte
_CORRUPT_ADDITION = {"id": "not-a-number"}  # a 201 body that no Addition schema accepts
_ERROR_CODES = {400: "InvalidObject", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                409: "Conflict"}  # fmt: skip


def before_call(state: SimulatorState, fired: list[str]) -> None:
    """Latency, then maybe a 429 or a 5xx; nothing is committed when a fault answers."""
    faults = state.faults
    if faults.latency_seconds > 0:
        time.sleep(faults.latency_seconds)
    with state.lock:
        if faults.chance(faults.rate_limit_probability):
            fired.append("rate_limited")
            raise _rate_limited(faults.retry_after_seconds)
        if faults.chance(faults.server_error_probability):
            fired.append("server_error")
            status = faults.rng().choice((500, 502, 503))
            raise ApiError(status, "InternalServerError", "An unexpected error occurred.")


def before_addition_commit(state: SimulatorState, fired: list[str]) -> None:
    """A create's slow commit (the delay, outside the lock), then its forced failure if due."""
    with state.lock:
        failure = state.faults.take_post_failure()
        delay = state.faults.post_commit_delay_seconds
        retry_after = state.faults.retry_after_seconds
    if delay > 0:
        fired.append("slow_post")
        time.sleep(delay)  # the client may give up meanwhile; the commit still follows
    if failure is not None:
        fired.append("forced_error")
        raise _forced_error(failure, retry_after)


def after_post(
    state: SimulatorState, response: Response, creating: bool, fired: list[str]
) -> Response:
    """A committed POST's answer: maybe lost (any POST), maybe corrupt (a create)."""
    with state.lock:
        faults = state.faults
        if faults.lose_next_posts > 0:
            faults.lose_next_posts -= 1
            lost = True
        else:
            lost = faults.chance(faults.lose_post_response_probability)
        corrupt = not lost and creating and faults.take_corrupt_answer()
    if lost:
        fired.append("lost_answer")
        return LOST
    if corrupt:
        fired.append("corrupt_answer")
        return Response(response.status, dict(_CORRUPT_ADDITION))
    return response


def after_patch(state: SimulatorState, response: Response, fired: list[str]) -> Response:
    """A committed PATCH's answer: maybe lost (the change stands)."""
    with state.lock:
        lost = state.faults.lose_next_patches > 0
        if lost:
            state.faults.lose_next_patches -= 1
    if lost:
        fired.append("lost_answer")
        return LOST
    return response


def _rate_limited(retry_after: int) -> ApiError:
    message = f"Too many requests; retry after {retry_after} seconds."
    return ApiError(429, "TooManyRequests", message, headers={"Retry-After": str(retry_after)})


def _forced_error(status: int, retry_after: int) -> ApiError:
    """The answer of `fail_nth_post`: a ConnectWise error body with one field error."""
    if status == 429:
        return _rate_limited(retry_after)
    code = _ERROR_CODES.get(status, "InternalServerError" if status >= 500 else "BadRequest")
    message = f"The addition could not be saved ({code})."
    return ApiError(status, code, message, [field_error("agreementAddition", "id", code, message)])
