"""The attack's probes one by one: each a clear 4xx that changes nothing; redirects stay short."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_sync.models import CompanyMapping, Partner
from tests.web.conftest import PASSWORD

PAGE_MESSAGE = "page must be a whole number from 1 to 100000"


@pytest.mark.parametrize("page", [str(2**63), "\u00b2", "0", "-1", "1e3", "100001"])
@pytest.mark.parametrize("path", ["/runs/", "/usage/", "/companies/"])
def test_a_page_number_out_of_range_is_a_400_saying_so(admin, path, page):
    response = admin.get(path, query_string={"page": page})

    assert response.status_code == 400
    assert PAGE_MESSAGE in response.get_data(as_text=True)


def test_an_absent_or_ordinary_page_number_still_works(admin):
    assert admin.get("/runs/").status_code == 200
    assert admin.get("/runs/?page=").status_code == 200
    assert admin.get("/runs/?page=3").status_code == 200


@pytest.mark.parametrize("run_id", ["0", str(2**31), str(2**63), "%C2%B2", "%D9%A1"])
def test_an_id_out_of_range_in_a_path_is_not_found(admin, run_id):
    assert admin.get(f"/runs/{run_id}").status_code == 404
    assert admin.get(f"/companies/{run_id}").status_code == 404


@pytest.mark.parametrize("value", ["\u00b2", str(2**63), "0", "7.0"])
def test_an_id_out_of_range_in_a_form_is_a_400_and_maps_nothing(admin, world, dump, value):
    before = dump()

    response = admin.post(
        f"/companies/{world.company_id}/map", data={"cw_company_id": value, "agreement_id": "70"}
    )

    assert response.status_code == 400
    assert "cw_company_id must be a whole number" in response.get_data(as_text=True)
    assert dump() == before


def test_a_256_character_time_zone_is_refused_by_name(admin, world, session_factory):
    form = {"frequency": "daily", "at_time": "02:00", "count_basis": "month_end"}

    response = admin.post("/schedule/", data={**form, "timezone": "Europe/" + "x" * 249})

    assert response.status_code == 303  # back to the form with the reason
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "time zone is longer than 64 characters" in page
    with session_factory() as session:
        assert session.get(Partner, world.partner_id).timezone == "Europe/Amsterdam"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("company_id", "x" * 101, "company id is longer than 100 characters"),
        ("public_key", "pub\x9b2J", "public key contains a control character"),  # C1 CSI
        ("site", "https://" + "x" * 250 + ".example", "site is longer than 255 characters"),
    ],
)
def test_a_connection_field_that_does_not_fit_is_refused(admin, dump, field, value, message):
    form = {
        "site": "http://127.0.0.1:9",
        "company_id": "training",
        "public_key": "pub",
        "private_key": "key",
        "client_id": "5f1e6a3c-0000-4000-8000-000000000001",
    }
    before = dump()

    response = admin.post("/connection/", data={**form, field: value})

    assert response.status_code == 303  # back to the form with the reason
    assert message in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert dump() == before


@pytest.mark.parametrize("where", ["query", "form", "path"])
def test_a_nul_byte_anywhere_is_a_400(admin, world, dump, where):
    before = dump()
    if where == "query":
        response = admin.get("/companies/?q=acme%00")
    elif where == "form":
        response = admin.post(f"/companies/{world.company_id}/exclude", data={"tab": "a\x00"})
    else:
        response = admin.post("/products/pb%00business", data={"cw_product_id": "1"})

    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)
    assert dump() == before


def test_a_20_kb_search_is_not_copied_into_a_redirect(admin, world):
    response = admin.post(
        f"/companies/{world.company_id}/map", data={"q": "q" * 20_000, "cw_company_id": "7"}
    )

    assert response.status_code == 302
    assert len(response.headers["Location"]) < 300


def test_a_20_kb_url_asked_for_before_sign_in_is_not_copied_into_the_login_redirect(app):
    response = app.test_client().get("/companies/?q=" + "q" * 20_000)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login") and len(location) < 300


@pytest.mark.parametrize(
    "target", ["/\\evil.example/x", "//evil.example", "/ok\r\nSet-Cookie: x=1", "/" + "a" * 2000]
)
def test_login_returns_only_to_short_same_site_paths(app, target):
    client = app.test_client()

    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "admin@acme.test", "password": PASSWORD},
    )

    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_mapping_of_another_partner_is_untouched_by_hostile_ids(admin, world, session_factory):
    for value in ("\u00b2", str(2**63)):
        admin.post(f"/companies/{value}/exclude")
        admin.post(f"/companies/{world.theirs_company_id}/exclude", data={"tab": value})
    with session_factory() as session:
        statuses = set(session.scalars(select(CompanyMapping.status)))
    assert statuses == {"mapped"}


@pytest.mark.parametrize(
    "path, field",
    [("/connection/", "site"), ("/schedule/", "timezone"), ("/login", "email")],
)
def test_a_refused_form_does_not_repeat_a_megabyte(admin, path, field):
    response = admin.post(path, data={field: "x" * 1_000_000})

    if response.status_code == 303:  # back to its page; what was typed rides in the cookie
        assert len(response.headers["Set-Cookie"]) < 4000
        response = admin.get(response.headers["Location"])
        assert "x" * 256 not in response.get_data(as_text=True)
    else:
        assert 400 <= response.status_code < 500
    assert len(response.data) < 50_000
