"""The /api/v1 endpoints: parse with the schemas, call one service, answer JSON or a problem."""

from __future__ import annotations

from http import HTTPStatus

from flask import url_for
from flask_limiter import RateLimitExceeded
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from billing_sync import api_queries
from billing_sync.errors import Conflict, InvalidInput, NotFoundError, RunInProgress
from billing_sync.periods import Period, latest_closed_period
from billing_sync.queue.client import QueueUnavailable
from billing_sync.rosters import apply_roster
from billing_sync.run_requests import start_requested_run
from billing_sync.seats import RowsRejected, upsert_seats
from web.api import schemas
from web.api.problems import from_http_exception, pointer, problem
from web.api.security import authenticate, identity
from web.ratelimit import retry_after
from web.state import db, launcher, now, state

bp = Blueprint("api", __name__, url_prefix="/api/v1", description="billing-sync REST API")
bp.before_request(authenticate)
LOCATION = {"Location": {"description": "the run", "schema": {"type": "string"}, "required": True}}


def errors(*statuses: int):
    """Document the problem responses an operation may answer (400 for every one of them)."""

    def decorate(view):
        # Any request may be refused as malformed (a control character in the URL: web.hardening).
        for status in sorted({400, *statuses}):
            view = bp.alt_response(status, response=_name(status))(view)
        return view

    return decorate


def _name(status: int) -> str:
    return HTTPStatus(status).name


def _partner() -> int:
    return identity().partner_id


def _rejected(exc: RowsRejected, collection: str):
    items = [
        {"pointer": pointer(collection, p.index, p.field), "message": p.message}
        for p in exc.problems
    ]
    return problem(422, f"{len(items)} problem(s); nothing was written", errors=items)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded):
    wait = retry_after(state().limiter)
    return from_http_exception(exc, {"Retry-After": str(wait)})


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return from_http_exception(exc)


@bp.errorhandler(NotFoundError)
def _not_found(exc: NotFoundError):
    return problem(404, str(exc))  # another partner's ids land here too


@bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput):
    return problem(422, str(exc))


@bp.errorhandler(Conflict)
@bp.errorhandler(RunInProgress)
def _conflict(exc: Exception):
    return problem(409, str(exc))


@bp.errorhandler(QueueUnavailable)
def _queue_down(exc: QueueUnavailable):
    # The run was recorded as failed with this reason; a retry may find the queue back.
    return problem(503, f"the run could not be queued: {exc}", headers={"Retry-After": "30"})


@bp.route("/seats", methods=["PUT"], tags=["seats"])
@bp.arguments(schemas.SeatsSchema)
@bp.response(200, schemas.SeatsResultSchema)
@errors(400, 401, 403, 413, 429)
def put_seats(body: dict):
    """Upsert seats (the usage CSV as JSON)

    All or nothing: any problem rejects every seat, each error pointing at
    /seats/N/field. A seat is keyed by (company_id, user_id, product, active_from);
    a known key updates active_to and user_email, so the same body twice changes nothing.
    """
    try:
        summary = upsert_seats(
            db(), _partner(), body["seats"], now=now(), where=lambda i: f"/seats/{i}"
        )
    except RowsRejected as exc:
        db().rollback()
        return _rejected(exc, "seats")
    db().commit()
    return {"created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged}


@bp.route(
    "/companies/<string:company_id>/products/<string:product>/users",
    methods=["PUT"],
    tags=["seats"],
)
@bp.arguments(schemas.RosterSchema)
@bp.response(200, schemas.RosterResultSchema)
@errors(400, 401, 403, 404, 409, 413, 429)
def put_users(body: dict, company_id: str, product: str):
    """Apply a snapshot of who holds a product at a company

    Users newly present open a seat at as_of; users absent close their open seat
    at as_of. The same snapshot twice changes nothing. An as_of older than the newest
    applied for this company and product is refused (409), a future one too (422).
    company_id is the vendor's id, as in PUT /seats; company_name creates or renames it.
    """
    for value, what in ((company_id, "company"), (product, "product")):
        if len(value) > 100 or "\x00" in value:
            raise NotFoundError(f"no {what} {value[:100]!r}")
    roster = schemas.RosterSchema().roster(body, company_id, product)
    try:
        result = apply_roster(db(), _partner(), roster, now=now())
    except RowsRejected as exc:
        db().rollback()
        return _rejected(exc, "users")
    db().commit()
    return {
        "company_id": company_id,
        "product": product,
        "as_of": roster.as_of,
        "opened": result.opened,
        "closed": result.closed,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "company_created": result.company_created,
    }


@bp.route("/counts", methods=["GET"], tags=["counts"])
@bp.arguments(schemas.CountsQuerySchema, location="query")
@bp.response(200, schemas.CountsSchema)
@errors(401, 429)
def counts(query: dict):
    """User counts per company and product

    ?period=YYYY-MM: month-end counts of a closed period (the frozen month-close
    snapshot once the period closed). ?at=timestamp: live counts at that instant.
    Neither: the latest closed period in the partner's time zone.
    """
    if "at" in query:
        found = api_queries.instant_counts(db(), _partner(), query["at"])
    else:
        tz = api_queries.partner_timezone(db(), _partner())
        period = Period.parse(query["period"]) if "period" in query else None
        found = api_queries.period_counts(
            db(), _partner(), period or latest_closed_period(now(), tz), now=now()
        )
    return {
        "basis": found.basis,
        "period": str(found.period) if found.period else None,
        "at": found.at,
        "frozen": found.frozen,
        "counts": found.rows,
    }


@bp.route("/companies", methods=["GET"], tags=["companies"])
@bp.arguments(schemas.CompaniesQuerySchema, location="query")
@bp.response(200, schemas.CompaniesSchema)
@errors(401, 429)
def companies(query: dict):
    """Vendor companies with their mapping, last sync and status, by company_id"""
    limit = query["limit"]
    rows = api_queries.company_statuses(db(), _partner(), after=query.get("after"), limit=limit)
    after = rows[-1].external_id if len(rows) == limit else None
    return {
        "companies": [_company(row) for row in rows],
        "next": url_for(".companies", after=after, limit=limit) if after else None,
    }


def _company(row) -> dict:
    mapped = row.status != "unmatched"
    return {
        "company_id": row.external_id,
        "name": row.name,
        "status": row.status,
        "mapping": {
            "cw_company_id": row.cw_company_id,
            "cw_company_name": row.cw_company_name,
            "agreement_id": row.agreement_id,
            "agreement_name": row.agreement_name,
            "matched_by": row.matched_by,
        }
        if mapped
        else None,
        "last_sync": _last_sync(row) if row.last_sync else None,
    }


def _last_sync(row) -> dict:
    errors = [{"error": p.error, "advice": p.advice, "product": p.product} for p in row.problems]
    if row.failure is not None:  # the latest run stopped before it reached this company
        failure = row.failure
        said = failure.message or failure.status
        errors.insert(
            0,
            {
                "error": f"run {failure.run_id} {failure.status}: {said}",
                "advice": "the latest run did not reach this company; `at` is its older last sync",
                "product": None,
            },
        )
    return {"at": row.last_sync, "ok": not errors, "errors": errors}


def _run(stored: api_queries.StoredRun) -> dict:
    return {
        **stored.report.to_json(),
        "dry_run": stored.dry_run,
        "trigger": stored.trigger,
        "started_at": stored.started_at,
        "finished_at": stored.finished_at,
        "period": stored.period.strftime("%Y-%m") if stored.period else None,
    }


@bp.route("/syncs", methods=["POST"], tags=["runs"])
@bp.arguments(schemas.IdempotencyHeaderSchema, location="headers", arg_name="headers")
@bp.arguments(schemas.SyncRequestSchema, arg_name="body")
@bp.response(202, schemas.RunSchema, headers=LOCATION)
@errors(400, 401, 403, 409, 413, 429, 503)
def start_sync(headers: dict, body: dict):
    """Start a run (or a dry run) in the background

    Answers 202 with the run and Location: /api/v1/runs/{id}. With an Idempotency-Key
    header a repeat answers the run the first request started. 409 while another run
    is in progress, and for a real run while the ConnectWise integration is disabled.
    """
    app_state = state()
    run_id = start_requested_run(
        app_state.session_factory,
        app_state.settings,
        launcher(),
        _partner(),
        now=now(),
        dry_run=body["dry_run"],
        key=headers.get("idempotency_key"),
    )
    stored = api_queries.stored_run(db(), _partner(), run_id)
    return _run(stored), 202, {"Location": url_for(".run", run_id=run_id)}


@bp.route("/runs", methods=["GET"], tags=["runs"])
@bp.arguments(schemas.RunsQuerySchema, location="query")
@bp.response(200, schemas.RunsSchema)
@errors(401, 429)
def runs(query: dict):
    """Runs and previews, newest first, with their items"""
    limit = query["limit"]
    found = api_queries.stored_runs(db(), _partner(), limit=limit, before=query.get("before"))
    before = found[-1].report.run_id if len(found) == limit else None
    return {
        "runs": [_run(stored) for stored in found],
        "next": url_for(".runs", before=before, limit=limit) if before else None,
    }


@bp.route("/runs/<int:run_id>", methods=["GET"], tags=["runs"])
@bp.response(200, schemas.RunSchema)
@errors(401, 404, 429)
def run(run_id: int):
    """One run and its items, in the sync --json shape"""
    return _run(api_queries.stored_run(db(), _partner(), run_id))
