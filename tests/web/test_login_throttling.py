"""Failed sign-ins are throttled per account and per client address, in memory or in Redis."""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
import redis

from billing_sync.models import Partner
from billing_sync.partners import create_user
from billing_sync.settings import SettingsError
from tests.web.conftest import NOW, PASSWORD, login
from web import create_app

REDIS_URL = "redis://127.0.0.1:6379/0"
FLASH_ERROR = re.compile(r'class="flash error" role="alert">([^<]+)<')


@pytest.fixture
def make_app(settings, session_factory, world):
    """Apps allowing 3 failures per 5 minutes, over the shared database."""

    def make(**overrides):
        config = dataclasses.replace(settings, **{"login_rate_limit": "3/5m", **overrides})
        app = create_app(config, session_factory=session_factory)
        app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
        return app

    return make


def client_at(app, address: str):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def message(response) -> str:
    """The error the page shows, numbers blanked so that timings do not matter."""
    return re.sub(r"\d+", "N", FLASH_ERROR.search(response.get_data(as_text=True)).group(1))


def test_an_account_is_locked_whatever_address_the_failures_come_from(make_app):
    app = make_app()
    for n in range(3):
        failed = login(client_at(app, f"198.51.100.{n}"), "Admin@Acme.test ", "wrong")
        assert failed.status_code == 401

    locked = login(client_at(app, "198.51.100.9"), "admin@acme.test")  # the right password

    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 300
    assert message(locked) == "Too many failed sign-ins; try again in N minute(s)."
    assert login(client_at(app, "198.51.100.9"), "viewer@acme.test").status_code == 302


def test_an_address_is_locked_whatever_e_mails_it_tries(make_app):
    app = make_app()
    attacker = client_at(app, "203.0.113.5")
    for email in ("admin@acme.test", "viewer@acme.test", "nobody@acme.test"):
        assert login(attacker, email, "wrong").status_code == 401

    locked = login(attacker, "viewer@globex.test")  # the right password, a fresh account

    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert login(client_at(app, "203.0.113.6"), "viewer@globex.test").status_code == 302


def test_a_lockout_reads_the_same_for_unknown_accounts(make_app):
    app = make_app()
    pages = []
    for address, email in (("192.0.2.1", "admin@acme.test"), ("192.0.2.2", "ghost@acme.test")):
        client = client_at(app, address)
        wrong = [login(client, email, "wrong") for _ in range(3)][-1]
        pages.append((wrong, login(client, email, "wrong")))

    (known_wrong, known_locked), (unknown_wrong, unknown_locked) = pages
    assert (known_wrong.status_code, unknown_wrong.status_code) == (401, 401)
    assert message(known_wrong) == message(unknown_wrong)
    assert (known_locked.status_code, unknown_locked.status_code) == (429, 429)
    assert message(known_locked) == message(unknown_locked)
    assert "Retry-After" in known_locked.headers and "Retry-After" in unknown_locked.headers


def test_successful_sign_ins_do_not_count(make_app):
    app = make_app()
    client = client_at(app, "192.0.2.3")
    for _ in range(5):
        assert login(client, "admin@acme.test").status_code == 302
        client.post("/logout")
    assert login(client, "admin@acme.test", "wrong").status_code == 401


def test_pages_other_than_sign_in_are_not_limited(make_app):
    app = make_app()
    client = client_at(app, "192.0.2.4")
    assert login(client, "admin@acme.test").status_code == 302
    assert all(client.get("/").status_code == 200 for _ in range(20))
    assert all(client.get("/login").status_code == 302 for _ in range(5))


@pytest.mark.parametrize(
    "field, value, variable",
    [
        ("login_rate_limit", "ten a minute", "BILLING_SYNC_LOGIN_RATE_LIMIT"),
        ("ratelimit_storage_url", "memcache://cache:11211", "BILLING_SYNC_RATELIMIT_STORAGE_URL"),
        ("ratelimit_storage_url", "rdis://:s3cret@cache", "BILLING_SYNC_RATELIMIT_STORAGE_URL"),
    ],
)
def test_the_app_factory_refuses_bad_throttle_settings_naming_the_variable(
    make_app, field, value, variable
):
    with pytest.raises(SettingsError, match=f"^{variable} must be") as raised:
        make_app(**{field: value})
    assert "s3cret" not in str(raised.value)


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} for the shared-storage test ({exc})")


def test_two_apps_sharing_redis_share_the_failure_count(make_app, session_factory, world):
    _redis_or_skip()
    # Keys of this run only: counts in Redis outlive the test for the 5-minute window.
    token = uuid.uuid4().hex
    email = f"shared-{token[:12]}@acme.test"
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        create_user(session, partner, email, PASSWORD, role="admin", now=NOW)
    first = make_app(ratelimit_storage_url=REDIS_URL)
    second = make_app(ratelimit_storage_url=REDIS_URL)
    address = f"2001:db8:{token[:4]}:{token[4:8]}::"

    for n, app in enumerate((first, second, first)):
        assert login(client_at(app, f"{address}{n}"), email, "wrong").status_code == 401

    assert login(client_at(second, f"{address}9"), email).status_code == 429
    assert login(client_at(first, f"{address}9"), email).status_code == 429


def test_a_shared_storage_that_does_not_answer_falls_back_to_counting_in_the_process(make_app):
    app = make_app(ratelimit_storage_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = client_at(app, "192.0.2.8")

    assert login(client, "admin@acme.test").status_code == 302  # sign-in still works
    client.post("/logout")
    assert [login(client, "admin@acme.test", "wrong").status_code for _ in range(3)] == [401] * 3
    assert login(client, "admin@acme.test").status_code == 429
