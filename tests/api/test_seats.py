"""PUT /api/v1/seats: the usage CSV as JSON, all or nothing, upserted like the CSV."""

from __future__ import annotations

import dataclasses
import io

import pytest
from sqlalchemy import select

from billing_sync.models import Company, Seat
from billing_sync.usage import import_usage_csv
from tests.api.conftest import NOW, ApiClient
from web import create_app

CSV = """company_id,company_name,user_id,user_email,product,active_from,active_to
C1,Acme Dental,u1,a@acme.example,pb-business,2026-01-05T09:00:00Z,
C1,Acme Dental,u2,b@acme.example,pb-business,2026-02-01T00:00:00-05:00,2026-09-15T00:00:00Z
C2,Birchwood Legal,u9,,pb-business,2026-04-01T00:00:00Z,
"""


def seat(**changes) -> dict:
    base = {
        "company_id": "C1",
        "company_name": "Acme Dental",
        "user_id": "u1",
        "user_email": "a@acme.example",
        "product": "pb-business",
        "active_from": "2026-01-05T09:00:00Z",
        "active_to": None,
    }
    return {**base, **changes}


SEATS = [
    seat(),
    seat(
        user_id="u2",
        user_email="b@acme.example",
        active_from="2026-02-01T00:00:00-05:00",
        active_to="2026-09-15T00:00:00Z",
    ),
    seat(
        company_id="C2",
        company_name="Birchwood Legal",
        user_id="u9",
        user_email=None,
        active_from="2026-04-01T00:00:00Z",
    ),
]


def stored(session_factory, partner_id):
    with session_factory() as session:
        rows = session.execute(
            select(
                Company.external_id,
                Company.name,
                Seat.user_external_id,
                Seat.user_email,
                Seat.active_from,
                Seat.active_to,
            )
            .join(Company, Company.id == Seat.company_id)
            .where(Seat.partner_id == partner_id)
            .order_by(Company.external_id, Seat.user_external_id)
        )
        return [tuple(row) for row in rows]


def test_seats_are_created_then_unchanged_then_updated(api, world):
    first = api.put("/api/v1/seats", json={"seats": SEATS})
    assert (first.status_code, first.get_json()) == (
        200,
        {"created": 3, "updated": 0, "unchanged": 0},
    )
    again = api.put("/api/v1/seats", json={"seats": SEATS})
    assert again.get_json() == {"created": 0, "updated": 0, "unchanged": 3}
    ended = seat(active_to="2026-03-01T00:00:00+01:00")  # same key, new end
    changed = api.put("/api/v1/seats", json={"seats": [ended]})
    assert changed.get_json() == {"created": 0, "updated": 1, "unchanged": 0}


def test_the_api_and_the_csv_store_the_same_seats(api, world, session_factory):
    api.put("/api/v1/seats", json={"seats": SEATS})
    with session_factory.begin() as session:
        summary = import_usage_csv(session, world.theirs_partner_id, io.StringIO(CSV), now=NOW)
    assert summary.seats_created == 3
    ours, theirs = (
        stored(session_factory, world.partner_id),
        stored(session_factory, world.theirs_partner_id),
    )
    assert ours == theirs and len(ours) == 3


INVALID = [
    # (seat changes or a whole body, expected (pointer, message fragment) pairs)
    ({"active_from": "yesterday"}, [("/seats/1/active_from", "Not a valid")]),
    ({"active_from": "2026-01-05T09:00:00"}, [("/seats/1/active_from", "aware")]),
    ({"active_to": "2026-01-01T00:00:00Z"}, [("/seats/1/active_to", "later than active_from")]),
    ({"product": "pb-nope"}, [("/seats/1/product", "unknown product code 'pb-nope'")]),
    ({"company_id": ""}, [("/seats/1/company_id", "Length")]),
    ({"user_id": "x" * 101}, [("/seats/1/user_id", "Length")]),
    ({"user_email": 7}, [("/seats/1/user_email", "Not a valid string")]),
    ({"seats_total": 1}, [("/seats/1/seats_total", "Unknown field")]),
    ({"user_id": "a\x00b"}, [("/seats/1/user_id", "NUL")]),
    ({"active_from": "0001-01-01T00:00:00+01:00"}, [("/seats/1/active_from", "range")]),
    ({"company_name": "Acme Inc"}, [("/seats/1/company_name", "named 'Acme Inc' here")]),
    (
        {"user_id": "u1", "active_to": "2026-05-01T00:00:00Z"},
        [("/seats/1/active_to", "same seat as /seats/0")],
    ),
]


@pytest.mark.parametrize(("changes", "expected"), INVALID, ids=[str(c) for c, _ in INVALID])
def test_one_bad_seat_rejects_all_with_pointers(api, world, session_factory, changes, expected):
    body = {"seats": [SEATS[0], {**seat(user_id="u5"), **changes}]}
    response = api.put("/api/v1/seats", json=body)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["type"].endswith("#problem-validation")
    for pointer, fragment in expected:
        assert any(
            e.get("pointer") == pointer and fragment in e["message"] for e in problem["errors"]
        ), problem
    assert stored(session_factory, world.partner_id) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [({}, "/seats"), ({"seats": "all"}, "/seats"), ({"seats": [SEATS[0]], "x": 1}, "/x")],
)
def test_a_body_of_the_wrong_shape_is_422_with_a_pointer(api, body, pointer):
    response = api.put("/api/v1/seats", json=body)
    assert response.status_code == 422
    assert pointer in [e.get("pointer") for e in response.get_json()["errors"]]


def test_a_body_that_is_not_json_is_400(api):
    response = api.put(
        "/api/v1/seats", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_a_body_over_10_mb_is_413_unread(api):
    body = '{"seats": [], "pad": "' + "x" * (10 * 1024 * 1024) + '"}'
    response = api.put("/api/v1/seats", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["type"].endswith("#problem-too-large")


def test_the_body_limit_is_a_setting(settings, session_factory, world, tokens, checker):
    small = dataclasses.replace(settings, api_max_body_mb=1)
    app = create_app(small, session_factory=session_factory)
    app.config.update(TESTING=True)
    client = ApiClient(app, tokens.write, checker)
    seats = [seat(user_id=f"user-{n:06d}") for n in range(6_000)]  # about 1.1 MB
    assert client.put("/api/v1/seats", json={"seats": seats}).status_code == 413
    assert stored(session_factory, world.partner_id) == []
    response = client.put("/api/v1/seats", json={"seats": seats[:4_000]})
    assert response.get_json() == {"created": 4_000, "updated": 0, "unchanged": 0}
