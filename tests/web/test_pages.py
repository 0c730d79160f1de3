"""The admin's journey through the pages against the simulator, with the Flask test client."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update

from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    Connection,
    Partner,
    Product,
    ProductMapping,
    Run,
    RunItem,
    Seat,
)
from tests.web.conftest import NOW, SIM_KEYS, connect


def _text(response) -> str:
    return response.get_data(as_text=True)


def _product_id(session_factory, code="pb-business") -> int:
    with session_factory() as session:
        return session.scalar(select(Product.id).where(Product.code == code))


def _add_companies(session_factory, partner_id, *names):
    with session_factory.begin() as session:
        for n, name in enumerate(names):
            session.add(Company(partner_id=partner_id, external_id=f"v-{n}", name=name))


def _authenticate(client, site: str, **overrides):
    """Press Authenticate and save on the connection form."""
    return client.post("/connection/authenticate", data={"site": site, **SIM_KEYS, **overrides})


def test_connect_and_authenticate_shows_the_version(admin, simulator, session_factory):
    assert connect(admin, simulator.site).status_code == 302
    page = _text(admin.get("/connection/"))
    assert "Not checked since the last change" in page and "Checked " not in page
    response = _authenticate(admin, simulator.site, private_key="")  # the stored key
    page = _text(admin.get(response.headers["Location"]))
    assert "These credentials work (ConnectWise version" in page
    assert "set, ending in 4c1d".lower() in page.lower()
    assert "Not checked since the last change" not in page and "Checked " in page
    with session_factory() as session:
        assert session.scalar(select(Connection.last_check_ok)) is True


def test_authenticate_checks_the_typed_values_and_saves_them_only_when_they_work(
    admin, simulator, session_factory, sim_state
):
    assert _authenticate(admin, simulator.site).status_code == 302  # nothing stored yet
    with session_factory() as session:
        stored = session.scalar(select(Connection))
        assert (stored.public_key, stored.last_check_ok) == (SIM_KEYS["public_key"], True)
    refused = _authenticate(admin, simulator.site, public_key="typo", private_key="wrong-key")
    assert refused.status_code == 303 and refused.headers["Location"].endswith("/connection/")
    page = _text(admin.get("/connection/"))
    assert "These credentials do not work; nothing was saved" in page
    assert 'value="typo"' in page and "wrong-key" not in page  # typed values, never the key
    assert "Type the private key again" in page
    with session_factory() as session:
        stored = session.scalar(select(Connection))
        assert (stored.public_key, stored.last_check_ok) == (SIM_KEYS["public_key"], True)
    assert 'value="typo"' not in _text(admin.get("/connection/"))  # shown back once only


def test_saving_says_how_the_typed_site_was_changed(admin, session_factory):
    pasted = "127.0.0.1:8123/v4_6_release/services/system_io/Service/fv_sr100_request.rails?x=1"
    response = connect(admin, pasted)
    page = _text(admin.get(response.headers["Location"]))
    assert "The site was saved as https://127.0.0.1:8123" in page
    assert "https:// was added in front of it" in page
    assert "the browser path after the host (/v4_6_release/" in page
    with session_factory() as session:
        assert session.scalar(select(Connection.site)) == "https://127.0.0.1:8123"


def test_integration_toggle(admin, world, session_factory):
    page = _text(
        admin.post("/connection/integration", data={"enabled": "1"}, follow_redirects=True)
    )
    assert "Integration is on" in page and "Turn integration off" in page


def test_product_page_lists_only_active_catalog_items_and_maps(
    admin, simulator, session_factory, sim_state
):
    connect(admin, simulator.site)
    page = _text(admin.get("/products/"))
    assert "PB-BUS" in page and "Retired" not in page
    item = next(r for r in sim_state.records("catalog") if r["identifier"] == "PB-BUS")
    response = admin.post(
        "/products/pb-business", data={"cw_product_id": str(item["id"])}, follow_redirects=True
    )
    assert "billed as PB-BUS" in _text(response)
    with session_factory() as session:
        mapping = session.scalar(select(ProductMapping))
        assert (mapping.cw_product_id, mapping.cw_identifier) == (item["id"], "PB-BUS")


def test_product_page_without_connection_says_what_to_do(admin):
    assert "save the connection first" in _text(admin.get("/products/"))


def test_automatch_then_manual_mapping_with_agreement(
    admin, world, simulator, session_factory, sim_state
):
    connect(admin, simulator.site)
    _add_companies(session_factory, world.partner_id, "ACME  dental", "Bakery Bros", "Nobody Inc")
    page = _text(admin.post("/companies/automatch", follow_redirects=True))
    assert "Auto-match mapped 1 of 3" in page
    assert "Bakery Bros: 2 active agreements" in page
    assert "Unmatched (2)" in page
    with session_factory() as session:
        bakery = session.scalar(select(Company).where(Company.name == "Bakery Bros"))
    cw_bakery = next(r for r in sim_state.records("companies") if r["name"] == "Bakery Bros")
    edit = _text(admin.get(f"/companies/{bakery.id}?cw_company={cw_bakery['id']}"))
    assert "Bakery Gold" in edit and "Bakery Silver" in edit and "Bakery Old" not in edit
    missing = admin.post(
        f"/companies/{bakery.id}/map",
        data={"cw_company_id": cw_bakery["id"]},
        follow_redirects=True,
    )
    assert "Choose a ConnectWise company and one of its agreements" in _text(missing)
    gold = next(r for r in sim_state.records("agreements") if r["name"] == "Bakery Gold")
    saved = admin.post(
        f"/companies/{bakery.id}/map",
        follow_redirects=True,
        data={"cw_company_id": cw_bakery["id"], "agreement_id": gold["id"]},
    )
    assert "billed on agreement Bakery Gold" in _text(saved)
    with session_factory() as session:
        mapping = session.scalar(
            select(CompanyMapping).where(CompanyMapping.company_id == bakery.id)
        )
        assert (mapping.agreement_id, mapping.matched_by) == (gold["id"], "manual")


def test_agreement_of_another_cw_company_is_refused(admin, world, simulator, sim_state):
    connect(admin, simulator.site)
    dental = next(r for r in sim_state.records("companies") if r["name"] == "Acme Dental")
    gold = next(r for r in sim_state.records("agreements") if r["name"] == "Bakery Gold")
    response = admin.post(
        f"/companies/{world.company_id}/map",
        follow_redirects=True,
        data={"cw_company_id": dental["id"], "agreement_id": gold["id"]},
    )
    assert "belongs to ConnectWise company" in _text(response)


def test_exclude_and_include(admin, world, session_factory):
    page = _text(admin.post(f"/companies/{world.company_id}/exclude", follow_redirects=True))
    assert "Excluded (1)" in page and "Acme Dental" in page
    page = _text(admin.post(f"/companies/{world.company_id}/include", follow_redirects=True))
    assert "Excluded (0)" in page


def test_companies_search_and_pagination(admin, world, session_factory):
    _add_companies(session_factory, world.partner_id, *(f"Client {n:03}" for n in range(120)))
    page = _text(admin.get("/companies/?tab=unmatched&page=3"))
    assert "Page 3 of 3" in page and "Client 119" in page and "Client 000" not in page
    found = _text(admin.get("/companies/?tab=unmatched&q=client 05"))
    assert "Unmatched (10)" in found and "Client 059" in found and "Client 060" not in found
    assert "Mapped (0)" in found  # counts follow the search
    assert "Mapped (1)" in _text(admin.get("/companies/"))


def test_search_treats_wildcards_literally(admin, world, session_factory):
    _add_companies(session_factory, world.partner_id, "100% Uptime", "Percentless")
    page = _text(admin.get("/companies/?tab=unmatched&q=%25"))
    assert "100% Uptime" in page and "Percentless" not in page


def test_schedule_shows_next_run_in_partner_zone(admin, world):
    form = {
        "frequency": "weekly",
        "weekday": "4",
        "at_time": "06:30",
        "timezone": "America/New_York",
        "count_basis": "live",
        "enabled": "1",
    }
    page = _text(admin.post("/schedule/", data=form, follow_redirects=True))
    assert "Schedule saved" in page
    assert "2026-03-13 06:30 EDT" in page  # the Friday after 2026-03-10, New York time


def test_schedule_rejects_bad_zone_and_changes_nothing(admin, world, session_factory):
    form = {
        "frequency": "daily",
        "at_time": "06:30",
        "timezone": "Mars/Base",
        "count_basis": "month_end",
        "enabled": "1",
    }
    response = admin.post("/schedule/", data=form)
    assert response.status_code == 303  # Back and reload never post the refused form again
    page = _text(admin.get(response.headers["Location"]))
    assert "unknown time zone" in page and 'value="Mars/Base"' in page
    assert "No schedule saved yet" in page


def _pushed(session_factory, world, period):
    with session_factory.begin() as session:
        session.add(
            AdditionLink(
                partner_id=world.partner_id,
                company_id=world.company_id,
                product_id=session.scalar(select(Product.id)),
                agreement_id=70,
                addition_id=500,
                last_quantity=3,
                period=period,
                updated_at=NOW,
            )
        )


def test_a_zone_change_after_a_pushed_month_needs_a_confirmation(admin, world, session_factory):
    _pushed(session_factory, world, date(2026, 2, 1))
    form = {
        "frequency": "daily",
        "at_time": "06:30",
        "timezone": "America/New_York",
        "count_basis": "month_end",
        "enabled": "1",
    }
    page = _text(admin.get("/schedule/"))
    assert "also the zone of" in page and "2026-02 was already pushed in" in page
    response = admin.post("/schedule/", data=form)
    assert response.status_code == 303
    page = _text(admin.get("/schedule/"))
    assert "Tick the confirmation to move it to America/New_York" in page
    assert 'value="America/New_York"' in page  # what was typed comes back
    with session_factory() as session:
        assert session.get(Partner, world.partner_id).timezone == "Europe/Amsterdam"
    saved = admin.post("/schedule/", data={**form, "confirm_zone": "1"}, follow_redirects=True)
    assert "Schedule saved" in _text(saved)
    with session_factory() as session:
        assert session.get(Partner, world.partner_id).timezone == "America/New_York"


def test_the_schedule_page_says_the_month_close_runs_with_scheduled_runs_off(admin, world):
    page = _text(admin.get("/schedule/"))
    assert 'type="text"' in page and 'pattern="([01][0-9]|2[0-3]):[0-5][0-9]"' in page
    assert "The month-close run\n      still runs at 00:15 on the 1st" in page
    assert "weekly runs only" in page and "schedule.js" in page


def test_runs_list_and_detail_filter(admin, world):
    assert "Run " in _text(admin.get("/runs/"))
    detail = _text(admin.get(f"/runs/{world.run_id}?action=error"))
    assert "ambiguous additions 5, 6" in detail and "Cancel one of them" in detail
    assert "ambiguous" not in _text(admin.get(f"/runs/{world.run_id}?action=update"))
    status = admin.get(f"/runs/{world.run_id}/status.json").get_json()
    assert status["status"] == "partial"


def test_dashboard_figures(admin, world):
    page = _text(admin.get("/"))
    assert "acme" in page and "ambiguous additions 5, 6" in page and "Cancel one of them" in page
    assert "Writing to ConnectWise is <strong>off</strong>" in page


def test_usage_chart_and_upload(admin, world):
    csv = (
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "c-9,Zeta Ltd,u1,u1@zeta.test,pb-business,2025-11-02T00:00:00Z,\n"
        "c-9,Zeta Ltd,u2,u2@zeta.test,pb-business,2025-12-05T00:00:00Z,\n"
    )
    response = admin.post(
        "/usage/upload",
        data={"file": (_bytes(csv), "seats.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Imported 2 rows" in _text(response)
    page = _text(admin.get("/usage/"))
    assert "<svg" in page and "Zeta Ltd" in page and "2026-02" in page


def test_usage_upload_rejects_the_whole_file_with_line_errors(admin, world, session_factory):
    csv = (
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "c-9,Zeta Ltd,u1,u1@zeta.test,pb-business,2025-11-02T00:00:00Z,\n"
        "c-9,Zeta Ltd,u2,u2@zeta.test,nope,yesterday,\n"
    )
    response = admin.post(
        "/usage/upload",
        data={"file": (_bytes(csv), "seats.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303  # Back after a rejected file asks nothing
    page = _text(admin.get(response.headers["Location"]))
    assert "nothing was imported" in page and "<td>3</td>" in page
    assert "<td>3</td>" not in _text(admin.get("/usage/upload"))  # shown once
    with session_factory() as session:
        assert session.scalar(select(Company).where(Company.external_id == "c-9")) is None


def _bytes(text: str):
    import io

    return io.BytesIO(text.encode())


def _ready_to_sync(admin, world, simulator, sim_state):
    """Connected, product mapped, Acme Dental on its real agreement with a seat, integration on."""
    connect(admin, simulator.site)
    item = next(r for r in sim_state.records("catalog") if r["identifier"] == "PB-BUS")
    admin.post("/products/pb-business", data={"cw_product_id": str(item["id"])})
    agreement = next(
        r for r in sim_state.records("agreements") if r["name"] == "Acme Managed Services"
    )
    admin.post(
        f"/companies/{world.company_id}/map",
        data={"cw_company_id": agreement["company"]["id"], "agreement_id": agreement["id"]},
    )
    csv = (
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "acme-1,Acme Dental,u1,u1@acme.test,pb-business,2025-12-01T00:00:00Z,\n"
    )
    admin.post(
        "/usage/upload",
        data={"file": (_bytes(csv), "seats.csv")},
        content_type="multipart/form-data",
    )
    admin.post("/connection/integration", data={"enabled": "1"})
    return agreement["id"]


def test_preview_then_apply_writes_the_previewed_quantity(app, admin, world, simulator, sim_state):
    agreement_id = _ready_to_sync(admin, world, simulator, sim_state)
    preview = admin.post("/sync/preview")
    assert preview.status_code == 302 and "/sync/preview/" in preview.headers["Location"]
    app.extensions["billing_sync"].runs.join(timeout=30)  # previews run in the background
    page = _text(admin.get(preview.headers["Location"]))
    assert "Nothing was written to ConnectWise" in page and "1 to create" in page
    assert "Acme Managed Services" in page and "— → 1" in page
    assert sim_state.additions(agreement_id) == []
    applied = admin.post("/sync/apply")
    assert applied.status_code == 302 and "/runs/" in applied.headers["Location"]
    app.extensions["billing_sync"].runs.join(timeout=30)
    detail = _text(admin.get(applied.headers["Location"]))
    assert "succeeded" in detail and "1 created" in detail
    assert [a["quantity"] for a in sim_state.additions(agreement_id)] == [1]


def test_apply_marks_an_item_re_planned_when_connectwise_moved_since_the_preview(
    app, admin, world, simulator, sim_state
):
    agreement_id = _ready_to_sync(admin, world, simulator, sim_state)
    preview = admin.post("/sync/preview").headers["Location"]
    app.extensions["billing_sync"].runs.join(timeout=30)
    preview_id = int(preview.rstrip("/").rsplit("/", 1)[1])
    item = next(r for r in sim_state.records("catalog") if r["identifier"] == "PB-BUS")
    sim_state.add_addition(agreement_id, item["id"], quantity=4)  # a hand edit after the preview

    applied = admin.post("/sync/apply", data={"preview_id": str(preview_id)})
    app.extensions["billing_sync"].runs.join(timeout=30)
    detail = _text(admin.get(applied.headers["Location"]))

    assert "re-planned: changed since the preview" in detail
    assert [a["quantity"] for a in sim_state.additions(agreement_id)] == [1]  # updated, not added


def test_a_preview_answers_at_once_while_connectwise_is_slow(
    app, admin, world, simulator, sim_state
):
    _ready_to_sync(admin, world, simulator, sim_state)
    sim_state.faults.latency_seconds = 1.0  # every ConnectWise answer takes a second
    try:
        started = time.monotonic()
        location = admin.post("/sync/preview").headers["Location"]
        page = _text(admin.get(location))
        waited = time.monotonic() - started
    finally:
        sim_state.faults.latency_seconds = 0
    assert waited < 1.0, f"the preview request waited {waited:.1f} s on ConnectWise"
    assert "Preview running" in page
    app.extensions["billing_sync"].runs.join(timeout=30)
    assert "Nothing was written to ConnectWise" in _text(admin.get(location))


def test_sync_now_with_the_integration_off_says_so_and_starts_nothing(
    app, admin, world, simulator, sim_state, session_factory
):
    _ready_to_sync(admin, world, simulator, sim_state)
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).integration_enabled = False
    for path in ("/sync/now", "/sync/apply"):
        response = admin.post(path, follow_redirects=True)
        page = _text(response)
        assert "integration is off, so no sync was started" in page, path
        assert "Sync started" not in page and "Sync queued" not in page
    with session_factory() as session:
        ours = select(func.count(Run.id)).where(Run.partner_id == world.partner_id)
        before = session.scalar(ours)
    admin.post("/sync/now")
    with session_factory() as session:
        assert session.scalar(ours) == before


def test_a_preview_names_the_companies_it_leaves_out_and_what_changed_since(
    app, admin, world, simulator, sim_state, session_factory
):
    _ready_to_sync(admin, world, simulator, sim_state)
    location = admin.post("/sync/preview").headers["Location"]
    app.extensions["billing_sync"].runs.join(timeout=30)
    page = _text(admin.get(location))
    assert "Changed since this preview" not in page
    with session_factory.begin() as session:
        unmapped = Company(partner_id=world.partner_id, external_id="lo-1", name="Left Out Ltd")
        session.add(unmapped)
        session.flush()
        product = session.scalars(select(Product)).first()
        session.add(
            Seat(
                partner_id=world.partner_id,
                company_id=unmapped.id,
                product_id=product.id,
                user_external_id="lo-u1",
                active_from=datetime(2025, 1, 1, tzinfo=UTC),
                updated_at=datetime(2099, 1, 1, tzinfo=UTC),  # after the preview
            )
        )
    page = _text(admin.get(location))
    assert "Changed since this preview: 1 seat record(s)." in " ".join(page.split())
    second = admin.post("/sync/preview").headers["Location"]
    app.extensions["billing_sync"].runs.join(timeout=30)
    page = _text(admin.get(second))
    assert "Left out (1)" in page and "Left Out Ltd" in page


def test_apply_of_another_partners_preview_is_not_found(admin, world):
    assert (
        admin.post("/sync/apply", data={"preview_id": str(world.theirs_run_id)}).status_code == 404
    )


def test_sync_now_runs_in_the_background(app, admin, world, simulator, sim_state):
    agreement_id = _ready_to_sync(admin, world, simulator, sim_state)
    response = admin.post("/sync/now")
    run_url = response.headers["Location"]
    assert response.status_code == 302 and "/runs/" in run_url
    app.extensions["billing_sync"].runs.join(timeout=30)
    status = admin.get(f"{run_url}/status.json").get_json()
    assert status["status"] == "succeeded" and status["done_items"] == status["total_items"] == 1
    assert [a["quantity"] for a in sim_state.additions(agreement_id)] == [1]


def test_second_sync_now_while_running_starts_nothing(app, admin, world, session_factory):
    from billing_sync.lease import acquire_lease

    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).integration_enabled = True
    assert acquire_lease(session_factory, world.partner_id, "someone-else", seconds=300)
    response = admin.post("/sync/now", follow_redirects=True)
    assert "A sync is already running; nothing new was started" in _text(response)
    with session_factory() as session:
        assert session.scalar(select(Run).where(Run.status == "running")) is None


def test_company_status_shows_the_latest_runs_error_and_advice(admin, world):
    page = _text(admin.get("/companies/?tab=mapped"))
    assert "ambiguous additions 5, 6" in page and "Cancel one of them" in page
    assert "2026-03-10 10:30 CET" in page  # last sync in the partner's zone


def _failed_run(session_factory, partner_id, *, at, message="GET /finance/agreements -> 401"):
    with session_factory.begin() as session:
        run = Run(
            partner_id=partner_id,
            trigger="schedule",
            dry_run=False,
            status="failed",
            basis="month_end",
            started_at=at,
            finished_at=at,
            message=message,
        )
        session.add(run)
        session.flush()
        return run.id


def test_company_status_says_not_synced_when_the_latest_run_failed_as_a_whole(
    admin, world, session_factory
):
    later = NOW + timedelta(hours=2)
    run_id = _failed_run(session_factory, world.partner_id, at=later)
    page = _text(admin.get("/companies/?tab=mapped"))
    assert "Not synced: last run failed — GET /finance/agreements -&gt; 401" in page
    assert f"Run {run_id}</a>, 2026-03-10 12:30 CET" in page
    assert "ambiguous additions 5, 6" not in page  # the older outcome is not shown as current
    assert '<span class="good">OK</span>' not in page


def test_dashboard_says_the_last_run_failed_and_why(admin, world, session_factory):
    _failed_run(session_factory, world.partner_id, at=NOW + timedelta(hours=2))
    page = _text(admin.get("/"))
    assert "None in the last run" not in page
    assert "The last run failed" in page and "GET /finance/agreements -&gt; 401" in page
    assert "No item was synced" in page


def test_company_status_names_the_product_of_each_problem(admin, world, session_factory):
    with session_factory.begin() as session:
        session.execute(update(RunItem).values(product_id=_product_id(session_factory)))
    page = _text(admin.get("/companies/?tab=mapped"))
    assert "<strong>Password Boss Business</strong>: ambiguous additions 5, 6" in page


def test_runs_run_detail_and_tokens_show_times_in_the_partners_zone(admin, world):
    runs = _text(admin.get("/runs/"))
    assert "Started (Europe/Amsterdam)" in runs and "2026-03-10 10:30 CET" in runs
    detail = _text(admin.get(f"/runs/{world.run_id}"))
    assert "started 2026-03-10 10:30 CET" in detail
    admin.post("/tokens/", data={"name": "pusher", "scope": "read"})
    tokens = _text(admin.get("/tokens/"))
    assert "2026-03-10 10:30 CET" in tokens
    for page in (runs, detail, tokens):
        assert "UTC" not in page


def test_a_running_run_says_items_are_coming_and_a_failed_one_says_why_it_has_none(
    admin, world, session_factory
):
    failed = _failed_run(session_factory, world.partner_id, at=NOW)
    assert "before it reached any company" in _text(admin.get(f"/runs/{failed}"))
    with session_factory.begin() as session:
        session.get(Run, failed).status = "running"
    assert "Running — items appear as companies finish" in _text(admin.get(f"/runs/{failed}"))


def test_every_page_links_the_favicon_and_starts_with_a_skip_link(admin, world):
    page = _text(admin.get("/"))
    assert 'rel="icon" href="/static/favicon.svg"' in page
    body = page.split("<body>", 1)[1]
    assert body.lstrip().startswith('<a class="skip-link" href="#main">Skip to content</a>')
    assert '<main id="main"' in page
    assert admin.get("/static/favicon.svg").status_code == 200
