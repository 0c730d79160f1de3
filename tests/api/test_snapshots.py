"""PUT /api/v1/companies/{company_id}/products/{product}/users: snapshots become seat intervals."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from billing_sync.models import Company, Seat

PATH = "/api/v1/companies/V-7/products/pb-business/users"


def snapshot(as_of: str, *users: str, name: str | None = "Vandelay Industries") -> dict:
    body = {"as_of": as_of, "users": [{"user_id": u, "user_email": f"{u}@v.test"} for u in users]}
    if name is not None:
        body["company_name"] = name
    return body


def intervals(session_factory) -> set[tuple]:
    with session_factory() as session:
        rows = session.execute(
            select(Seat.user_external_id, Seat.active_from, Seat.active_to)
            .join(Company, Company.id == Seat.company_id)
            .where(Company.external_id == "V-7")
        )
        return {(user, start.day, end.day if end else None) for user, start, end in rows}


def test_present_users_open_absent_users_close_and_a_repeat_changes_nothing(api, session_factory):
    first = api.put(PATH, json=snapshot("2026-03-01T00:00:00Z", "a", "b"))
    assert first.status_code == 200, first.get_json()
    assert first.get_json() | {"as_of": None} == {
        "company_id": "V-7",
        "product": "pb-business",
        "as_of": None,
        "opened": 2,
        "closed": 0,
        "updated": 0,
        "unchanged": 0,
        "company_created": True,
    }
    second = api.put(PATH, json=snapshot("2026-03-05T00:00:00Z", "b", "c"))
    assert (second.get_json()["opened"], second.get_json()["closed"]) == (1, 1)
    repeat = api.put(PATH, json=snapshot("2026-03-05T00:00:00Z", "b", "c"))
    assert repeat.get_json() | {"as_of": None, "company_created": None} == {
        "company_id": "V-7",
        "product": "pb-business",
        "as_of": None,
        "opened": 0,
        "closed": 0,
        "updated": 0,
        "unchanged": 2,
        "company_created": None,
    }
    assert intervals(session_factory) == {("a", 1, 5), ("b", 1, None), ("c", 5, None)}


def test_live_counts_follow_the_snapshots(api):
    api.put(PATH, json=snapshot("2026-03-01T00:00:00Z", "a", "b", "c"))
    api.put(PATH, json=snapshot("2026-03-04T00:00:00Z", "a"))
    before = api.get("/api/v1/counts?at=2026-03-03T00:00:00Z").get_json()["counts"]
    after = api.get("/api/v1/counts?at=2026-03-04T00:00:00Z").get_json()["counts"]
    assert [(c["company_id"], c["count"]) for c in before] == [("V-7", 3)]
    assert [(c["company_id"], c["count"]) for c in after] == [("V-7", 1)]


def test_an_older_snapshot_than_the_newest_applied_is_409_and_changes_nothing(api, session_factory):
    api.put(PATH, json=snapshot("2026-03-05T00:00:00Z", "a"))
    response = api.put(PATH, json=snapshot("2026-03-04T00:00:00Z", "b"))
    assert response.status_code == 409
    assert "newer snapshot" in response.get_json()["detail"]
    assert intervals(session_factory) == {("a", 5, None)}


def test_a_future_as_of_is_422(api, session_factory):
    response = api.put(PATH, json=snapshot("2026-03-10T09:31:00Z", "a"))  # the clock: 09:30
    assert response.status_code == 422
    assert "future" in response.get_json()["detail"]
    assert intervals(session_factory) == set()


def test_a_corrected_snapshot_at_the_same_instant_replaces_it(api, session_factory):
    api.put(PATH, json=snapshot("2026-03-05T00:00:00Z", "a", "b"))
    response = api.put(PATH, json=snapshot("2026-03-05T00:00:00Z", "a"))
    assert response.get_json()["closed"] == 1
    assert intervals(session_factory) == {("a", 5, None)}  # b's empty interval is gone


def test_an_unknown_company_needs_a_name_and_an_unknown_product_is_404(api):
    unnamed = api.put(PATH, json=snapshot("2026-03-01T00:00:00Z", "a", name=None))
    assert unnamed.status_code == 404
    assert "send company_name" in unnamed.get_json()["detail"]
    product = api.put(
        "/api/v1/companies/V-7/products/pb-nope/users", json=snapshot("2026-03-01T00:00:00Z")
    )
    assert product.status_code == 404


def test_a_user_listed_twice_with_different_emails_is_422_with_a_pointer(api):
    body = snapshot("2026-03-01T00:00:00Z", "a")
    body["users"].append({"user_id": "a", "user_email": "other@v.test"})
    response = api.put(PATH, json=body)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/users/1/user_email"]


def test_a_bad_body_is_422_with_pointers(api):
    response = api.put(PATH, json={"as_of": "soon", "users": [{"user_email": "x@v.test"}]})
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.get_json()["errors"]}
    assert pointers == {"/as_of", "/users/0/user_id"}


def test_the_same_vendor_id_of_another_partner_is_another_company(api, session_factory, world):
    api.put(
        "/api/v1/companies/globex-1/products/pb-business/users",
        json=snapshot("2026-03-01T00:00:00Z", "a", name="Ours Too"),
    )
    with session_factory() as session:
        names = dict(
            session.execute(
                select(Company.partner_id, Company.name).where(Company.external_id == "globex-1")
            ).all()
        )
        theirs = session.scalars(
            select(Seat).where(Seat.partner_id == world.theirs_partner_id)
        ).all()
    assert names == {
        world.partner_id: "Ours Too",
        world.theirs_partner_id: "Globex Secret Customer",
    }
    assert theirs == []
    assert datetime(2026, 3, 1, tzinfo=UTC)  # as_of of the snapshot above
