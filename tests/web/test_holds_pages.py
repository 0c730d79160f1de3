"""The guardrail pages: Holds (approve, reject, approve all), drift markers, held runs, rules.

Holds, drift and held run items are inserted as rows: these tests are about the pages, the
engine that makes such rows is tested on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from billing_sync.models import Drift, Hold, Partner, Product, Run, RunItem, RunLease
from tests.web.conftest import NOW, login


def _text(response) -> str:
    return response.get_data(as_text=True)


def _product_id(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(Product.id).where(Product.code == "pb-business"))


def _hold(session_factory, partner_id, company_id, run_id, **values) -> int:
    row = {
        "partner_id": partner_id,
        "run_id": run_id,
        "company_id": company_id,
        "product_id": _product_id(session_factory),
        "agreement_id": 70,
        "addition_id": 501,
        "quantity_before": 20,
        "quantity_after": 2,
        "rule": "fall",
        "reason": "falls by 90 % and 18 users (limits 25 % and 5 users)",
        "created_at": NOW,
        **values,
    }
    with session_factory.begin() as session:
        hold = Hold(**row)
        session.add(hold)
        session.flush()
        return hold.id


def _drift(session_factory, partner_id, company_id, run_id, **values) -> int:
    row = {
        "partner_id": partner_id,
        "run_id": run_id,
        "company_id": company_id,
        "product_id": _product_id(session_factory),
        "agreement_id": 70,
        "addition_id": 501,
        "expected": 12,
        "found": 15,
        "changed_by": "jdoe",
        "changed_at": datetime(2026, 3, 9, 16, 5, tzinfo=UTC),
        "policy": "overwrite",
        "created_at": NOW,
        **values,
    }
    with session_factory.begin() as session:
        drift = Drift(**row)
        session.add(drift)
        session.flush()
        return drift.id


def _status(session_factory, hold_id) -> tuple:
    with session_factory() as session:
        hold = session.get(Hold, hold_id)
        return hold.status, hold.decided_by


def _integration_on(session_factory, partner_id):
    with session_factory.begin() as session:
        session.execute(
            update(Partner).where(Partner.id == partner_id).values(integration_enabled=True)
        )


def test_the_holds_page_lists_open_holds_in_the_partner_zone(admin, world, session_factory):
    _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    page = _text(admin.get("/holds/"))
    assert "Acme Dental" in page and "20 → 2" in page and "Managed" in page
    assert "big fall" in page and "falls by 90 %" in page
    assert f"Run {world.run_id}" in page
    assert "2026-03-10 10:30 CET" in page  # 09:30 UTC in Europe/Amsterdam
    assert "Approve all" in page and ">Approve<" in page and ">Reject<" in page
    assert 'Holds <span class="badge held"' in page  # the nav says one is waiting


def test_approving_a_hold_records_who_and_says_the_next_run_writes_it(
    admin, world, session_factory
):
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    response = admin.post("/holds/approve", data={"hold_id": str(hold_id)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/holds/")
    page = _text(admin.get("/holds/"))
    assert "Approved 1 held change." in page and "integration is off" in page
    assert _status(session_factory, hold_id) == ("approved", "admin@acme.test")
    assert "No change is waiting for approval." in page
    assert "approved" in page.split("Recent decisions")[1]


def test_approving_starts_an_approval_run_when_the_integration_is_on(
    app, admin, world, session_factory
):
    _integration_on(session_factory, world.partner_id)
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    admin.post("/holds/approve", data={"hold_id": str(hold_id)})
    app.extensions["billing_sync"].runs.join(timeout=30)
    assert "A sync run was started to write it" in _text(admin.get("/holds/"))
    with session_factory() as session:
        triggers = session.scalars(select(Run.trigger).where(Run.id != world.run_id)).all()
    assert "approval" in triggers


def test_approving_while_a_run_holds_the_lease_records_it_for_the_next_run(
    admin, world, session_factory
):
    _integration_on(session_factory, world.partner_id)
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    far = datetime.now(UTC) + timedelta(hours=1)  # the lease is timed by the database clock
    with session_factory.begin() as session:
        session.add(
            RunLease(partner_id=world.partner_id, holder="other", acquired_at=NOW, expires_at=far)
        )
    admin.post("/holds/approve", data={"hold_id": str(hold_id)})
    page = _text(admin.get("/holds/"))
    assert "the approval is recorded and the next run writes it" in page
    assert _status(session_factory, hold_id)[0] == "approved"


def test_rejecting_a_hold_keeps_connectwise_as_it_is(admin, world, session_factory):
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    admin.post("/holds/reject", data={"hold_id": str(hold_id)})
    page = _text(admin.get("/holds/"))
    assert "Rejected 1 held change: ConnectWise keeps its quantity" in page
    assert _status(session_factory, hold_id) == ("rejected", "admin@acme.test")
    with session_factory() as session:
        runs = select(Run.id).where(Run.partner_id == world.partner_id, Run.id != world.run_id)
        assert session.scalar(runs) is None  # no run was started


def test_approve_all_needs_the_confirmation_then_approves_every_hold_it_showed(
    admin, world, session_factory
):
    ids = [
        _hold(session_factory, world.partner_id, world.company_id, world.run_id) for _ in range(3)
    ]
    theirs = _hold(
        session_factory, world.theirs_partner_id, world.theirs_company_id, world.theirs_run_id
    )
    page = _text(admin.get("/holds/"))
    form = page.split('id="approve-all"')[1].split("</form>")[0]
    shown = [str(i) for i in ids]
    assert all(f'name="hold_id" value="{i}"' in form for i in shown)
    admin.post("/holds/approve", data={"all": "1", "hold_id": shown})
    assert "Tick the confirmation" in _text(admin.get("/holds/"))
    assert {_status(session_factory, i)[0] for i in ids} == {"open"}
    unseen = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    admin.post("/holds/approve", data={"all": "1", "confirm": "1", "hold_id": shown})
    assert "Approved 3 held changes." in _text(admin.get("/holds/"))
    assert {_status(session_factory, i)[0] for i in ids} == {"approved"}
    assert _status(session_factory, unseen)[0] == "open"  # arrived after the page was shown
    assert _status(session_factory, theirs)[0] == "open"  # the other partner's stays


def test_an_already_decided_hold_is_refused_and_nothing_changes(admin, world, session_factory):
    done = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    fresh = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    admin.post("/holds/reject", data={"hold_id": str(done)})
    response = admin.post("/holds/approve", data={"hold_id": [str(done), str(fresh)]})
    assert response.status_code == 303
    page = _text(admin.get("/holds/"))
    assert f"hold {done} (rejected) is not open any more; nothing was changed" in page
    assert _status(session_factory, fresh)[0] == "open"
    assert _status(session_factory, done)[0] == "rejected"


def test_another_partners_hold_answers_404_and_stays_open(admin, world, session_factory):
    theirs = _hold(
        session_factory, world.theirs_partner_id, world.theirs_company_id, world.theirs_run_id
    )
    assert admin.post("/holds/approve", data={"hold_id": str(theirs)}).status_code == 404
    assert admin.post("/holds/reject", data={"hold_id": str(theirs)}).status_code == 404
    assert admin.post("/holds/approve", data={"hold_id": "99999"}).status_code == 404
    assert _status(session_factory, theirs) == ("open", None)
    assert "Globex" not in _text(admin.get("/holds/"))


def test_bad_hold_ids_get_a_clear_answer_not_a_500(admin, world):
    for path, form, said in (
        ("/holds/approve", {"hold_id": "abc"}, "hold id must be a whole number"),
        ("/holds/reject", {"hold_id": "-1"}, "hold id must be a whole number"),
        ("/holds/reject", {}, "Choose a held change first"),
    ):
        assert admin.post(path, data=form).status_code == 303
        assert said in _text(admin.get("/holds/"))


def test_a_viewer_sees_holds_and_drift_but_no_buttons_and_cannot_decide(
    viewer, world, session_factory
):
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    _drift(session_factory, world.partner_id, world.company_id, world.run_id)
    page = _text(viewer.get("/holds/"))
    assert "20 → 2" in page and "jdoe" in page and "Read-only" in page
    assert "Approve all" not in page and '<form method="post" action="/holds' not in page
    assert viewer.post("/holds/approve", data={"hold_id": str(hold_id)}).status_code == 403
    assert viewer.post("/holds/reject", data={"hold_id": str(hold_id)}).status_code == 403
    assert _status(session_factory, hold_id)[0] == "open"


def test_deciding_without_a_csrf_token_is_refused(app, world, session_factory):
    app.config["WTF_CSRF_ENABLED"] = True
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    client = app.test_client()
    assert login(client, "admin@acme.test").status_code == 302
    assert client.post("/holds/approve", data={"hold_id": str(hold_id)}).status_code == 400
    forged = {"hold_id": str(hold_id), "csrf_token": "forged"}
    assert client.post("/holds/reject", data=forged).status_code == 400
    assert _status(session_factory, hold_id)[0] == "open"
    page = _text(client.get("/holds/"))
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    sent = client.post("/holds/reject", data={"hold_id": str(hold_id), "csrf_token": token})
    assert sent.status_code == 302 and _status(session_factory, hold_id)[0] == "rejected"


def test_the_dashboard_makes_open_holds_and_drift_loud(admin, world, session_factory):
    assert "held for approval on" not in _text(admin.get("/"))
    for addition, agreement in ((501, 70), (502, 70), (503, 71)):
        _hold(
            session_factory,
            world.partner_id,
            world.company_id,
            world.run_id,
            addition_id=addition,
            agreement_id=agreement,
        )
    _hold(session_factory, world.partner_id, world.company_id, world.run_id, status="rejected")
    _drift(session_factory, world.partner_id, world.company_id, world.run_id)
    _drift(session_factory, world.partner_id, world.company_id, world.run_id, status="resolved")
    page = _text(admin.get("/"))
    assert "3 changes held for approval on 2 agreements." in page
    assert "2 agreements will invoice with a held change" in page
    assert "1 addition changed by hand in ConnectWise." in page and "/holds/#drift" in page


def test_the_company_row_shows_open_drift_and_open_holds(admin, viewer, world, session_factory):
    _drift(session_factory, world.partner_id, world.company_id, world.run_id)
    _drift(
        session_factory,
        world.theirs_partner_id,
        world.theirs_company_id,
        world.theirs_run_id,
        changed_by="spy",
    )
    hold_id = _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    for client in (admin, viewer):
        page = _text(client.get("/companies/?tab=mapped"))
        assert "Held for approval: <strong>pb-business</strong> 20 → 2" in page
        assert f"/holds/#hold-{hold_id}" in page
        assert "Changed by hand: <strong>pb-business</strong> 12 → 15" in page
        assert "by jdoe, 2026-03-09 17:05 CET" in page and "spy" not in page


def test_the_run_page_lists_its_held_items_and_the_drift_it_found(admin, world, session_factory):
    with session_factory.begin() as session:
        session.execute(update(Run).where(Run.id == world.run_id).values(status="held", held=1))
        session.add(
            RunItem(
                run_id=world.run_id,
                partner_id=world.partner_id,
                company_id=world.company_id,
                product_id=_product_id(session_factory),
                agreement_id=70,
                addition_id=501,
                action="held",
                state="done",
                quantity_before=20,
                quantity_after=2,
                created_at=NOW,
            )
        )
    _hold(session_factory, world.partner_id, world.company_id, world.run_id)
    _drift(session_factory, world.partner_id, world.company_id, world.run_id, policy="adopt")
    page = _text(admin.get(f"/runs/{world.run_id}"))
    assert '<span class="badge held">held</span>' in page and "1 held for approval" in page
    assert "Held for approval (1)" in page and "falls by 90 %" in page
    assert "waiting for approval" in page
    assert "Changed by hand (1)" in page and "adopted ConnectWise" in page
    assert "held (1)" in page  # the action filter
    assert "1 held for approval" in _text(admin.get("/runs/"))
    filtered = _text(admin.get(f"/runs/{world.run_id}?action=held"))
    assert '<span class="badge held">held</span>' in filtered
