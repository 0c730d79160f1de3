"""A sign-in takes as long for an unknown e-mail as for a known one with a wrong password."""

from __future__ import annotations

import dataclasses
import statistics
import time

from web import create_app

ROUNDS = 9


def test_unknown_and_known_e_mails_take_the_same_time(settings, session_factory, world):
    app = create_app(
        dataclasses.replace(settings, login_rate_limit="1000/1m"), session_factory=session_factory
    )
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(ROUNDS):  # interleaved, so a slow moment of the machine hits both
        for kind, email in (("known", "admin@acme.test"), ("unknown", "nobody@acme.test")):
            started = time.perf_counter()
            response = client.post("/login", data={"email": email, "password": "wrong guess"})
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 401

    known, unknown = (statistics.median(timings[kind]) for kind in ("known", "unknown"))
    ratio = known / unknown
    print(f"median sign-in: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert 0.5 < ratio < 2.0, f"known {known * 1000:.1f} ms vs unknown {unknown * 1000:.1f} ms"
