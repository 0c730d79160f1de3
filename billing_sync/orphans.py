"""Orphans and leftovers: additions nobody keeps at the right count, read live from ConnectWise.

Three kinds, per partner:
  unowned          an addition of a mapped catalog item on a mapped agreement that billing-sync
                   neither created nor manages;
  left_behind      an addition billing-sync owns on an agreement its company no longer maps to
                   (remapped or excluded): it still bills the customer and nothing updates it;
  mapping_deleted  an addition billing-sync owns whose company or product mapping was deleted.

Ownership comes from the ledger, never from what ConnectWise says alone: the marker a create
stamps must name one of this partner's create intents, or a completed ledger row (or the
addition link) must name the addition. Setting an unowned addition to 0 does not make it ours.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.connectwise.errors import ConnectWiseError, NotFound
from billing_sync.connectwise.records import Addition
from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    Product,
    ProductMapping,
    Run,
    RunItem,
)
from billing_sync.planning import current_additions
from billing_sync.sync.writes import MARKER_PREFIX

KINDS = ("unowned", "left_behind", "mapping_deleted")
READERS = 4  # agreements read side by side: enough to hide latency, gentle on ConnectWise
SETTLED = ("done", "settled_done")


@dataclass(frozen=True)
class Owner:
    """The (company, product) a ledger row or link says an addition was kept for."""

    company_id: int
    product_id: int
    agreement_id: int


@dataclass(frozen=True)
class Facts:
    """What the database says about a partner's mappings and ownership (the pure core's input)."""

    mapped: dict[int, int]  # agreement id -> the company mapped onto it
    mappings: dict[int, tuple[str, int | None]]  # company id -> (status, agreement id)
    products: dict[int, int]  # product id -> mapped catalog item
    links: dict[tuple[int, int], AdditionLink]
    owners: dict[int, Owner]  # addition id -> owner, from completed ledger rows and links
    creates: dict[int, Owner]  # create intent id -> owner (what a marker names)
    companies: dict[int, tuple[str, str]]  # company id -> (external id, name)
    codes: dict[int, str]  # product id -> vendor product code

    def agreements(self) -> set[int]:
        """Every agreement worth reading: mapped ones, and those we ever wrote to."""
        owned = {o.agreement_id for o in (*self.owners.values(), *self.creates.values())}
        return set(self.mapped) | owned

    def owner(self, addition: Addition) -> Owner | None:
        """Who owns an addition: our marker, or the ledger; None when billing-sync never did."""
        serial = addition.serial_number or ""
        if serial.startswith(MARKER_PREFIX) and serial[len(MARKER_PREFIX) :].isdigit():
            owner = self.creates.get(int(serial[len(MARKER_PREFIX) :]))
            if owner is not None and owner.agreement_id == addition.agreement_id:
                return owner
        owner = self.owners.get(addition.id)
        return owner if owner is not None and owner.agreement_id == addition.agreement_id else None

    def item_of(self, cw_product_id: int) -> int | None:
        """The vendor product mapped to a catalog item, if one is."""
        return next((p for p, item in self.products.items() if item == cw_product_id), None)


@dataclass(frozen=True)
class Orphan:
    """One addition nobody keeps, why, and whether it can be adopted."""

    kind: str
    agreement_id: int
    addition_id: int
    cw_product_id: int
    catalog_item: str | None
    quantity: float
    company_id: int | None
    product_id: int | None
    company: str | None  # vendor external id
    company_name: str | None
    product: str | None  # vendor product code
    why: str
    refusal: str | None = None  # why it cannot be adopted; None: it can

    def to_json(self) -> dict:
        """The `orphans list --json` record."""
        keys = ("kind", "company", "company_name", "agreement_id", "addition_id")
        more = ("catalog_item", "cw_product_id", "product", "quantity", "why")
        return {k: getattr(self, k) for k in (*keys, *more)} | {"adoptable": self.refusal is None}


@dataclass
class OrphanReport:
    """The orphans found, the agreements that could not be read, and when it was checked."""

    checked_at: datetime
    orphans: list[Orphan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    read: dict[int, list[Addition]] = field(default_factory=dict)  # agreement -> active additions

    def find(self, addition_id: int) -> Orphan | None:
        """The listed orphan with this addition id, if any."""
        return next((o for o in self.orphans if o.addition_id == addition_id), None)


OWNED_REFUSAL = (
    "only an addition billing-sync does not own (on a mapped agreement) can be adopted; "
    "set this one to 0, or map its company back"
)


def _orphan(kind: str, addition: Addition, facts: Facts, owner, why: str, refusal=None):
    company_id = owner.company_id if owner else facts.mapped.get(addition.agreement_id)
    product_id = owner.product_id if owner else facts.item_of(addition.product_id)
    external, name = facts.companies.get(company_id, (None, None))
    return Orphan(
        kind,
        addition.agreement_id,
        addition.id,
        addition.product_id,
        addition.product_identifier,
        addition.quantity,
        company_id,
        product_id,
        external,
        name,
        facts.codes.get(product_id),
        why,
        refusal if kind == "unowned" else OWNED_REFUSAL,
    )


def _unowned(addition: Addition, active: list[Addition], facts: Facts) -> Orphan | None:
    company_id = facts.mapped.get(addition.agreement_id)
    product_id = facts.item_of(addition.product_id)
    if company_id is None or product_id is None:
        return None  # the MSP's own addition on an agreement or item we do not keep
    link = facts.links.get((company_id, product_id))
    managed = link.addition_id if link and link.agreement_id == addition.agreement_id else None
    others = [a.id for a in active if a.product_id == addition.product_id and a.id != addition.id]
    if managed in others:
        why = (
            f"a second addition of this item: billing-sync manages addition {managed} here, "
            "so syncs stop with 'duplicate additions' until one is cancelled"
        )
        refusal = f"billing-sync already manages addition {managed} for this company and product"
        return _orphan("unowned", addition, facts, None, why, refusal)
    if others:
        listed = ", ".join(map(str, others))
        why = f"not created by billing-sync; additions {listed} carry the same item (duplicates)"
        refusal = f"additions {listed} carry the same item here: cancel the extras first"
        return _orphan("unowned", addition, facts, None, why, refusal)
    why = "not created by billing-sync; the next sync adopts it (the only addition of this item)"
    return _orphan("unowned", addition, facts, None, why)


def _owned(addition: Addition, active: list[Addition], facts: Facts, owner: Owner):
    status, agreement_id = facts.mappings.get(owner.company_id, (None, None))
    item = facts.products.get(owner.product_id)
    if status is None:
        return _orphan("mapping_deleted", addition, facts, owner, "its company mapping was deleted")
    if item is None:
        return _orphan("mapping_deleted", addition, facts, owner, "its product mapping was deleted")
    if status == "excluded":
        return _orphan("left_behind", addition, facts, owner, "its company is excluded")
    if agreement_id != addition.agreement_id:
        why = f"its company is now mapped to agreement {agreement_id}"
        return _orphan("left_behind", addition, facts, owner, why)
    if item != addition.product_id:
        why = f"its product is now mapped to catalog item {item}"
        return _orphan("left_behind", addition, facts, owner, why)
    link = facts.links.get((owner.company_id, owner.product_id))
    live = {a.id for a in active}
    if link and link.addition_id != addition.id and link.addition_id in live:
        why = (
            f"a second addition of this item: billing-sync now manages addition {link.addition_id}"
        )
        return _orphan("left_behind", addition, facts, owner, why)
    return None  # managed, or the next sync takes it up (an unsettled create, a remap back)


def classify(agreement_id: int, active: list[Addition], facts: Facts) -> list[Orphan]:
    """Pure: the orphans among one agreement's active additions."""
    found = []
    for addition in sorted(active, key=lambda a: a.id):
        owner = facts.owner(addition)
        orphan = _owned(addition, active, facts, owner) if owner else None
        if owner is None:
            orphan = _unowned(addition, active, facts)
        if orphan is not None:
            found.append(orphan)
    return found


def _owners(session: Session, partner_id: int) -> dict[int, Owner]:
    # Writes of orphan runs (a set to 0) prove nothing: zeroing an addition does not make it ours.
    kept = RunItem.action.in_(("create", "unchanged")) | (
        (RunItem.action == "update") & (Run.trigger != "orphan")
    )
    columns = (RunItem.addition_id, RunItem.company_id, RunItem.product_id, RunItem.agreement_id)
    # One row per (addition, owner), not one per run that found it unchanged.
    rows = session.execute(
        select(*columns)
        .join(Run, Run.id == RunItem.run_id)
        .where(
            RunItem.partner_id == partner_id,
            RunItem.state.in_(SETTLED),
            RunItem.addition_id.is_not(None),
            RunItem.company_id.is_not(None),
            RunItem.product_id.is_not(None),
            RunItem.agreement_id.is_not(None),
            kept,
        )
        .group_by(*columns)
        .order_by(func.max(RunItem.id))
    )
    owners = {addition: Owner(c, p, a) for addition, c, p, a in rows}  # the newest row wins
    for link in session.scalars(select(AdditionLink).where(AdditionLink.partner_id == partner_id)):
        owners[link.addition_id] = Owner(link.company_id, link.product_id, link.agreement_id)
    return owners


def gather_facts(session: Session, partner_id: int) -> Facts:
    """Read mappings, links and the ledger's ownership evidence for one partner."""
    mappings = {
        m.company_id: (m.status, m.agreement_id)
        for m in session.scalars(
            select(CompanyMapping).where(CompanyMapping.partner_id == partner_id)
        )
    }
    mapped = {a: c for c, (status, a) in sorted(mappings.items()) if status == "mapped" and a}
    products = dict(
        session.execute(
            select(ProductMapping.product_id, ProductMapping.cw_product_id).where(
                ProductMapping.partner_id == partner_id
            )
        ).all()
    )
    links = {
        (link.company_id, link.product_id): link
        for link in session.scalars(
            select(AdditionLink).where(AdditionLink.partner_id == partner_id)
        )
    }
    creates = {
        item_id: Owner(c, p, a)
        for item_id, c, p, a in session.execute(
            select(RunItem.id, RunItem.company_id, RunItem.product_id, RunItem.agreement_id).where(
                RunItem.partner_id == partner_id,
                RunItem.action == "create",
                RunItem.state != "planned",
                RunItem.company_id.is_not(None),
                RunItem.product_id.is_not(None),
                RunItem.agreement_id.is_not(None),
            )
        )
    }
    companies = {
        cid: (external, name)
        for cid, external, name in session.execute(
            select(Company.id, Company.external_id, Company.name).where(
                Company.partner_id == partner_id
            )
        )
    }
    codes = dict(session.execute(select(Product.id, Product.code)).all())
    owners = _owners(session, partner_id)
    return Facts(mapped, mappings, products, links, owners, creates, companies, codes)


def read_agreements(client, agreement_ids, now: datetime, report: OrphanReport) -> None:
    """Each agreement's active additions, once, a few side by side; failures become problems."""

    def read(agreement_id: int):
        try:
            listed = client.agreement_additions(agreement_id, active_at=now)
        except NotFound:
            return agreement_id, [], None  # the agreement is gone, and its additions with it
        except ConnectWiseError as exc:
            return agreement_id, None, f"agreement {agreement_id} could not be read: {exc}"
        return agreement_id, current_additions(listed, agreement_id, now), None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for agreement_id, active, problem in pool.map(read, sorted(agreement_ids)):
            if problem:
                report.problems.append(problem)
            else:
                report.read[agreement_id] = active


def find_orphans(
    session: Session, client, partner_id: int, *, now: datetime, agreements=None
) -> tuple[OrphanReport, Facts]:
    """Read the relevant agreements (or only `agreements`) live and list their orphans."""
    facts = gather_facts(session, partner_id)
    wanted = facts.agreements() if agreements is None else set(agreements) & facts.agreements()
    report = OrphanReport(checked_at=now)
    read_agreements(client, wanted, now, report)
    for agreement_id, active in sorted(report.read.items()):
        report.orphans.extend(classify(agreement_id, active, facts))
    order = {kind: n for n, kind in enumerate(KINDS)}
    report.orphans.sort(key=lambda o: (order[o.kind], o.company_name or "", o.addition_id))
    return report, facts
