"""ConnectWise Manage REST client: one session, business-named calls, records out."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote as quote_path
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from billing_sync import metrics
from billing_sync.connectwise import conditions as cond
from billing_sync.connectwise.agreement_calls import AgreementCreationCalls
from billing_sync.connectwise.codebase import codebase_from_answer, normalise_codebase
from billing_sync.connectwise.deadline import deadline
from billing_sync.connectwise.errors import (
    AuthenticationError,
    ConnectWiseError,
    DeadlineExceeded,
    Interrupted,
    NotFound,
    TooManyPages,
    WriteOutcomeUnknown,
)
from billing_sync.connectwise.guards import checked_id, checked_quantity, only_asked
from billing_sync.connectwise.hosts import check_site
from billing_sync.connectwise.records import Addition, Agreement, CatalogItem, CwCompany, SystemInfo
from billing_sync.connectwise.schemas import (
    AgreementSchema,
    CatalogItemSchema,
    CompanySchema,
    SystemInfoSchema,
    load_addition,
    load_record,
    new_addition_body,
    shared,
)
from billing_sync.connectwise.transport import (
    MB,
    error_for_failure,
    error_for_response,
    json_body,
    json_rows,
    make_session,
    read_body,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # ConnectWise's maximum
IDS_PER_REQUEST = 100  # keeps `id in (...)` URLs well under server URL limits
Stop = Callable[[], bool]  # True once listings should stop, e.g. `threading.Event().is_set`


@dataclass(frozen=True)
class Credentials:
    """What ConnectWise needs to authenticate an API member; repr hides the private key."""

    site: str
    company_id: str
    public_key: str
    private_key: str = field(repr=False)
    client_id: str


@dataclass(frozen=True)
class Limits:
    """What one client may cost beyond each call's timeout: a slow or hostile ConnectWise is
    bounded per listing, per answer, and over everything the client does."""

    max_pages: int = 50  # per listing, of PAGE_SIZE records each
    max_body_bytes: int = 20 * MB  # per answer, counted as it streams in
    deadline: float | None = None  # time.monotonic() instant no call runs past (a page's wait)
    stop: Stop | None = None  # once it says so, a listing stops before its next page


class ConnectWiseClient(AgreementCreationCalls):
    """The ConnectWise API as billing-sync uses it; build one per run or request and close it."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_factor: float = 0.5,
        allow_private_hosts: bool = False,
        codebase: str | None = None,
        pool_size: int = 16,
        limits: Limits | None = None,
    ) -> None:
        missing = [
            name
            for name in ("company_id", "public_key", "private_key", "client_id")
            if not getattr(credentials, name)
        ]
        if missing:
            raise AuthenticationError(f"The ConnectWise connection lacks: {', '.join(missing)}.")
        self._site = check_site(credentials.site, allow_private_hosts)
        self._company_id = credentials.company_id
        self._timeout = timeout
        self._limits = limits or Limits()
        self._codebase = normalise_codebase(codebase) if codebase else None
        self._codebase_lock = threading.Lock()
        self._session = make_session(
            site=self._site,
            company_id=credentials.company_id,
            public_key=credentials.public_key,
            private_key=credentials.private_key,
            client_id=credentials.client_id,
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            pool_size=pool_size,
        )

    def __repr__(self) -> str:
        return f"ConnectWiseClient(site={self._site!r}, company_id={self._company_id!r})"

    def __enter__(self) -> ConnectWiseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # -- business calls -------------------------------------------------------------------

    @property
    def codebase(self) -> str:
        """The site's codebase (`v4_6_release/`), discovered on first use and cached."""
        with self._codebase_lock:
            if self._codebase is None:
                self._codebase = self._discover_codebase()
            return self._codebase

    def system_info(self) -> SystemInfo:
        """`GET /system/info`: the credentials check; a 404 here means bad credentials."""
        response = self._request("GET", "/system/info")
        return load_record(shared(SystemInfoSchema), json_body(response))

    def companies(self, conditions: str | None = None) -> Iterator[CwCompany]:
        """Every company matching `conditions` (all pages)."""
        for row in self._paged("/company/companies", conditions):
            yield load_record(shared(CompanySchema), row)

    def search_companies(self, text: str, limit: int = 50) -> list[CwCompany]:
        """Up to `limit` non-deleted companies whose name contains `text`, by name."""
        if not 1 <= limit <= PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {PAGE_SIZE}")
        parts = [cond.contains("name", text)] if text.strip() else []
        params = {
            "conditions": cond.and_(*parts, cond.eq("deletedFlag", False)),
            "orderBy": "name asc",
            "page": 1,
            "pageSize": limit,
        }
        rows = json_rows(self._request("GET", "/company/companies", params=params))
        found = (load_record(shared(CompanySchema), row) for row in rows)
        return only_asked(found, lambda c: c.deleted, {False}, "deleted companies")

    def agreements(self, conditions: str | None = None) -> Iterator[Agreement]:
        """Every agreement matching `conditions` (all pages)."""
        for row in self._paged("/finance/agreements", conditions):
            yield load_record(shared(AgreementSchema), row)

    def company_agreements(self, cw_company_id: int) -> list[Agreement]:
        """All agreements of one company, whatever their status; another company's are dropped."""
        listed = self.agreements(cond.eq("company/id", checked_id(cw_company_id)))
        return only_asked(listed, lambda a: a.company_id, {cw_company_id}, "agreements")

    def agreements_of_companies(self, company_ids: Iterable[int]) -> list[Agreement]:
        """All agreements of these companies, in batches; another company's are dropped."""
        unique = sorted({checked_id(i) for i in company_ids})
        found: list[Agreement] = []
        for start in range(0, len(unique), IDS_PER_REQUEST):
            batch = unique[start : start + IDS_PER_REQUEST]
            listed = self.agreements(cond.in_("company/id", batch))
            found += only_asked(listed, lambda a: a.company_id, set(batch), "agreements")
        return found

    def agreements_by_ids(self, ids: Iterable[int]) -> dict[int, Agreement]:
        """The agreements with these ids (missing ones are absent), fetched in batches."""
        unique = sorted({checked_id(i) for i in ids})
        found: dict[int, Agreement] = {}
        for start in range(0, len(unique), IDS_PER_REQUEST):
            batch = unique[start : start + IDS_PER_REQUEST]
            listed = self.agreements(cond.in_("id", batch))
            for agreement in only_asked(listed, lambda a: a.id, set(batch), "agreements"):
                found[agreement.id] = agreement
        return found

    def catalog_items(self, include_inactive: bool = False) -> Iterator[CatalogItem]:
        """Procurement catalog products, active ones only unless asked otherwise."""
        conditions = None if include_inactive else cond.eq("inactiveFlag", False)
        for row in self._paged("/procurement/catalog", conditions):
            item = load_record(shared(CatalogItemSchema), row)
            if include_inactive or not item.inactive:  # the filter is not trusted either
                yield item

    def catalog_item(self, item_id: int) -> CatalogItem:
        """One catalog product by id (NotFound when it does not exist)."""
        path = f"/procurement/catalog/{checked_id(item_id)}"
        item = load_record(shared(CatalogItemSchema), json_body(self._request("GET", path)))
        if item.id != item_id:
            raise NotFound(f"GET {path}: ConnectWise answered with catalog item {item.id}.")
        return item

    def agreement_additions(self, agreement_id: int, *, active_at: datetime) -> list[Addition]:
        """The agreement's additions active at `active_at` (one GET for <= 1000).

        The server's filter is not trusted: a record of another agreement, or one cancelled by
        `active_at`, is dropped here, so nothing downstream can adopt or PATCH it.
        """
        path = f"/finance/agreements/{checked_id(agreement_id)}/additions"
        active = cond.or_(cond.eq("cancelledDate", None), cond.gt("cancelledDate", active_at))
        found = [load_addition(row, agreement_id) for row in self._paged(path, active)]
        kept = [a for a in found if a.agreement_id == agreement_id and a.is_active(active_at)]
        if len(kept) != len(found):
            log.warning(
                "ConnectWise listed %d addition(s) of agreement %s that belong to another "
                "agreement or are cancelled; ignored",
                len(found) - len(kept),
                agreement_id,
            )
        return kept

    def create_addition(
        self,
        agreement_id: int,
        *,
        product_id: int,
        quantity: int,
        effective_date: datetime,
        description: str,
        marker: str | None = None,
    ) -> Addition:
        """POST a new billable addition; sent once, never retried (WriteOutcomeUnknown if lost)."""
        body = new_addition_body(
            product_id=checked_id(product_id),
            quantity=checked_quantity(quantity),
            effective_date=effective_date,
            description=description,
            marker=marker,
        )
        path = f"/finance/agreements/{checked_id(agreement_id)}/additions"
        response = self._request("POST", path, json=body)
        try:
            return load_addition(json_body(response), agreement_id)
        except ConnectWiseError as exc:
            # ConnectWise answered 2xx, so the addition probably exists; what it is, is unknown.
            raise WriteOutcomeUnknown(f"POST {path}: {exc}", status=response.status_code) from exc

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: int) -> Addition:
        """PATCH the addition's quantity to an absolute value (idempotent, so retried)."""
        path = f"/finance/agreements/{checked_id(agreement_id)}/additions/{checked_id(addition_id)}"
        body = [{"op": "replace", "path": "quantity", "value": checked_quantity(quantity)}]
        return load_addition(json_body(self._request("PATCH", path, json=body)), agreement_id)

    # -- plumbing ------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._site}/{self.codebase}apis/3.0{path}"

    def _request(
        self, method: str, path: str, *, url: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """One API call; on an unexpected 404 re-discover the codebase and repeat once."""
        response = self._send(method, url or self._url(path), path, **kwargs)
        if response.status_code == 404 and url is None and self._codebase_moved():
            response = self._send(method, self._url(path), path, **kwargs)
        if response.status_code >= 300:
            raise error_for_response(method, path, response)
        return response

    def _send(self, method: str, url: str, path: str, **kwargs: Any) -> requests.Response:
        """One exchange within its total deadline (connect, retries and the whole body, read in
        capped chunks); no redirects (credentials are never re-sent elsewhere); logged."""
        seconds = self._seconds_left(method, path)
        started = time.monotonic()
        with deadline(started + seconds) as call:
            try:
                response = self._session.request(
                    method, url, timeout=seconds, allow_redirects=False, stream=True, **kwargs
                )
                read_body(response, method, path, self._limits.max_body_bytes, call)
            except ConnectWiseError:
                metrics.count_cw_request(method, "error", time.monotonic() - started)
                raise
            except Exception as exc:
                error = error_for_failure(method, path, exc, call, seconds)
                if error is None:
                    raise
                elapsed = time.monotonic() - started
                metrics.count_cw_request(method, "error", elapsed)
                log.debug(
                    "ConnectWise %s %s failed in %.0f ms: %s", method, path, elapsed * 1000, exc
                )
                raise error from exc
        elapsed = time.monotonic() - started
        metrics.count_cw_request(method, response.status_code, elapsed)
        if response.status_code == 429:
            metrics.count_rate_limited()  # the last answer; retried ones are counted by the Retry
        log.debug(
            "ConnectWise %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed * 1000
        )
        return response

    def _seconds_left(self, method: str, path: str) -> float:
        """This call's deadline: the timeout, or less when the client's own deadline is nearer."""
        if self._limits.deadline is None:
            return self._timeout
        left = self._limits.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"{method} {path}: not sent: the time allowed has run out.")
        return min(self._timeout, left)

    def _paged(self, path: str, conditions: str | None) -> Iterator[dict[str, Any]]:
        """Rows of every page, following `Link: rel="next"`; refuses a repeated next URL, stops at
        the page cap, and stops between pages when asked to."""
        # A stable order, so rows cannot shift between pages while we read them.
        params: dict[str, Any] = {"orderBy": "id asc", "page": 1, "pageSize": PAGE_SIZE}
        if conditions:
            params["conditions"] = conditions
        response = self._request("GET", path, params=params)
        fetched = {response.url}
        limits = self._limits
        for page in itertools.count(1):
            yield from json_rows(response)
            link = response.links.get("next", {}).get("url")
            if not link:
                return
            if page >= limits.max_pages:
                raise TooManyPages(
                    f"GET {path}: ConnectWise offered more than {limits.max_pages} pages "
                    f"({limits.max_pages * PAGE_SIZE:,} records, BILLING_SYNC_CW_MAX_PAGES); "
                    "stopped reading the listing."
                )
            if limits.stop is not None and limits.stop():
                raise Interrupted(f"GET {path}: stopped after page {page}: the run is stopping.")
            next_url = self._on_site(urljoin(response.url, link))
            if next_url in fetched:
                raise ConnectWiseError(
                    f"GET {path}: ConnectWise repeated the next-page link {next_url}; "
                    "stopped to avoid an endless loop."
                )
            fetched.add(next_url)
            response = self._request("GET", path, url=next_url)
            fetched.add(response.url)

    def _on_site(self, url: str) -> str:
        """The URL moved onto our site: credentials never go to a host named by a Link header."""
        site, target = urlsplit(self._site), urlsplit(url)
        return urlunsplit((site.scheme, site.netloc, target.path, target.query, ""))

    def _discover_codebase(self) -> str:
        """`GET {site}/login/companyinfo/{companyId}` (public, so sent without credentials)."""
        path = f"/login/companyinfo/{quote_path(self._company_id, safe='')}"
        headers = {"Authorization": None, "clientId": None, "Accept": "application/json"}
        response = self._send("GET", f"{self._site}{path}", path, headers=headers)
        return codebase_from_answer(response, self._site, self._company_id, path)

    def _codebase_moved(self) -> bool:
        """Re-discover the codebase (after a 404); True when it changed, so a repeat may help."""
        try:
            fresh = self._discover_codebase()
        except ConnectWiseError:
            return False  # keep the original 404: it is the more useful error
        with self._codebase_lock:
            moved, self._codebase = fresh != self._codebase, fresh
        if moved:
            log.info("ConnectWise codebase of %s is now %s", self._site, fresh)
        return moved
