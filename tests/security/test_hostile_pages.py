"""One partner's dripping ConnectWise costs that partner's pages a few seconds, nobody else's."""

from __future__ import annotations

import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import requests
from waitress import create_server

from billing_sync.partners import create_user, get_partner
from tests.security.hostile import CLIENT_ID, NOW, add_partner, answer_json, drip_body
from web import create_app

PAGE = 1.5  # BILLING_SYNC_CW_PAGE_TIMEOUT for these tests
SLACK = 0.7
PASSWORD = "correct horse battery"
TOO_SLOW = "ConnectWise is too slow right now: it did not answer within 1.5 s."
BUSY = "ConnectWise is still answering your other pages."


@pytest.fixture
def live(settings, session_factory, hostile):
    """The app under waitress (8 threads): partner alpha on a dripping ConnectWise, beta not."""
    page_settings = replace(settings, cw_page_timeout_seconds=PAGE)
    dripping = hostile(drip_body)
    prompt = hostile(answer_json([]))
    add_partner(session_factory, page_settings, "alpha", dripping.site)
    add_partner(session_factory, page_settings, "beta", prompt.site)
    with session_factory.begin() as session:
        for name in ("alpha", "beta"):
            create_user(
                session, get_partner(session, name), f"admin@{name}.test", PASSWORD, now=NOW
            )
    app = create_app(page_settings, session_factory=session_factory)
    app.config.update(WTF_CSRF_ENABLED=False)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", dripping
    server.close()
    thread.join(timeout=5)


def signed_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{base}/login", data={"email": email, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200 and "/login" not in answer.url
    return session


def timed_get(session: requests.Session, url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = session.get(url, timeout=30)
    return answer.status_code, html.unescape(answer.text), time.monotonic() - started


def test_another_partner_pages_answer_while_one_partner_connectwise_drips(live):
    base, dripping = live
    alpha = signed_in(base, "admin@alpha.test")
    beta = signed_in(base, "admin@beta.test")

    with ThreadPoolExecutor(max_workers=6) as pool:
        catalog_pages = [
            pool.submit(timed_get, requests_session(alpha), f"{base}/products/") for _ in range(6)
        ]
        time.sleep(0.3)  # alpha's pages are now waiting on ConnectWise
        dashboard = [timed_get(beta, f"{base}/") for _ in range(3)]
        answers = [page.result() for page in catalog_pages]

    assert all(status == 200 for status, _text, _took in dashboard)
    assert max(took for _status, _text, took in dashboard) < 0.5
    assert all(status == 200 for status, _text, _took in answers)  # a message, never a 500
    assert all(TOO_SLOW in text or BUSY in text for _status, text, _took in answers)
    assert sum(TOO_SLOW in text for _status, text, _took in answers) >= 1
    assert max(took for _status, _text, took in answers) < PAGE + SLACK
    catalog_calls = [p for p in dripping.api_requests() if "/procurement/catalog" in p]
    assert len(catalog_calls) <= 2  # at most two of alpha's pages wait on ConnectWise at once
    print(
        f"pages: alpha's catalog answered in at most "
        f"{max(took for *_, took in answers):.2f} s; beta's dashboard in at most "
        f"{max(took for *_, took in dashboard):.2f} s meanwhile"
    )


def requests_session(signed: requests.Session) -> requests.Session:
    """Another client with the same sign-in (requests sessions are not shared across threads)."""
    session = requests.Session()
    session.cookies.update(signed.cookies)
    return session


def test_authenticate_on_a_dripping_connectwise_answers_within_the_page_wait(live):
    base, dripping = live
    alpha = signed_in(base, "admin@alpha.test")

    started = time.monotonic()
    stored = {  # the stored values, as the form shows them (an empty private key: the stored one)
        "site": dripping.site,
        "company_id": "acme",
        "public_key": "pub-key",
        "private_key": "",
        "client_id": CLIENT_ID,
    }
    answer = alpha.post(f"{base}/connection/authenticate", data=stored, timeout=30)
    took = time.monotonic() - started

    assert answer.status_code == 200  # followed the redirect back to the connection page
    assert TOO_SLOW in html.unescape(answer.text)
    assert took < PAGE + SLACK
