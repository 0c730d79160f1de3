"""The served OpenAPI 3.1 document is valid and the reference page is the app's own."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

OPERATIONS = {
    ("put", "/api/v1/seats"),
    ("put", "/api/v1/companies/{company_id}/products/{product}/users"),
    ("get", "/api/v1/counts"),
    ("get", "/api/v1/companies"),
    ("post", "/api/v1/syncs"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{run_id}"),
}


def test_the_document_is_valid_openapi_3_1_listing_every_operation(anonymous):
    response = anonymous.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    found = {(m, p) for p, item in document["paths"].items() for m in item if m != "parameters"}
    assert found == OPERATIONS
    assert document["security"] == [{"bearerAuth": []}]
    seats = document["paths"]["/api/v1/seats"]["put"]["responses"]
    assert {"200", "401", "403", "413", "422", "429"} <= set(seats)


def test_the_reference_page_is_served_here_without_any_other_host(anonymous):
    response = anonymous.client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="(?:https?:)?//', page) == []
    for _method, path in OPERATIONS:
        assert path in page
    assert 'id="problem-validation"' in page
