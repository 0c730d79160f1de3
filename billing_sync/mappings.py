"""Company mappings: vendor company -> ConnectWise company and agreement, or excluded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from billing_sync.connectwise import conditions as cond
from billing_sync.connectwise.records import Agreement, CwCompany
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import AdditionLink, Company, CompanyMapping
from billing_sync.validation import shown


def normalise_name(name: str) -> str:
    """Case-folded with whitespace collapsed: the only sense in which auto-match compares names."""
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class MatchProposal:
    """What auto-match found for one vendor company."""

    company_id: int
    cw_company: CwCompany | None
    agreement: Agreement | None
    reason: str  # why it was (not) matched, for the report


def plan_automatch(
    vendor: dict[int, str],
    cw_companies: Iterable[CwCompany],
    agreements: dict[int, list[Agreement]],
    now: datetime,
) -> list[MatchProposal]:
    """Pure: pair each vendor company with its one same-named CW company and active agreement."""
    by_name: dict[str, list[CwCompany]] = defaultdict(list)
    for company in cw_companies:
        if not company.deleted:
            by_name[normalise_name(company.name)].append(company)
    proposals = []
    for company_id, name in sorted(vendor.items(), key=lambda kv: normalise_name(kv[1])):
        candidates = by_name.get(normalise_name(name), [])
        if not candidates:
            proposals.append(
                MatchProposal(company_id, None, None, "no ConnectWise company of that name")
            )
            continue
        if len(candidates) > 1:
            ids = ", ".join(str(c.id) for c in candidates)
            proposals.append(
                MatchProposal(
                    company_id, None, None, f"several ConnectWise companies of that name ({ids})"
                )
            )
            continue
        cw = candidates[0]
        active = [a for a in agreements.get(cw.id, []) if a.inactive_reason(now) is None]
        if len(active) == 1:
            proposals.append(
                MatchProposal(company_id, cw, active[0], "same name, one active agreement")
            )
        else:
            reason = "no active agreement" if not active else f"{len(active)} active agreements"
            proposals.append(MatchProposal(company_id, cw, None, reason))
    return proposals


def get_company(session: Session, partner_id: int, external_id: str) -> Company:
    """A partner's vendor company by external id, or NotFoundError."""
    company = session.scalar(
        select(Company).where(Company.partner_id == partner_id, Company.external_id == external_id)
    )
    if company is None:
        raise NotFoundError(f"no company with external id {shown(external_id)}")
    return company


def get_mapping(session: Session, company: Company) -> CompanyMapping | None:
    """The company's mapping row, if any."""
    return session.scalar(select(CompanyMapping).where(CompanyMapping.company_id == company.id))


def _upsert(session: Session, company: Company, now: datetime) -> CompanyMapping:
    mapping = get_mapping(session, company)
    if mapping is None:
        mapping = CompanyMapping(partner_id=company.partner_id, company_id=company.id)
        session.add(mapping)
    mapping.updated_at = now
    return mapping


def save_mapping(
    session: Session,
    company: Company,
    cw_company_id: int,
    agreement: Agreement,
    *,
    matched_by: str,
    now: datetime,
) -> CompanyMapping:
    """Map a company to a checked agreement; links to another agreement's additions are dropped."""
    if agreement.company_id != cw_company_id:
        raise InvalidInput(
            f"agreement {agreement.id} belongs to ConnectWise company "
            f"{agreement.company_id}, not {cw_company_id}"
        )
    reason = agreement.inactive_reason(now)
    if reason:
        raise InvalidInput(f"agreement {agreement.id} ({agreement.name}) is {reason}")
    holder = agreement_holder(session, company.partner_id, agreement.id, besides=company.id)
    if holder is not None:
        raise InvalidInput(
            f"agreement {agreement.id} ({agreement.name}) already carries {holder.name} "
            f"({holder.external_id}); one agreement carries one vendor company, so choose "
            "another agreement or re-map that company first"
        )
    mapping = _upsert(session, company, now)
    mapping.status = "mapped"
    mapping.cw_company_id = cw_company_id
    mapping.cw_company_name = agreement.company_name
    mapping.agreement_id = agreement.id
    mapping.agreement_name = agreement.name
    mapping.matched_by = matched_by
    session.execute(
        delete(AdditionLink).where(
            AdditionLink.company_id == company.id, AdditionLink.agreement_id != agreement.id
        )
    )
    session.flush()
    return mapping


def agreement_holder(
    session: Session, partner_id: int, agreement_id: int, *, besides: int | None = None
) -> Company | None:
    """The vendor company already mapped onto this agreement (other than `besides`), if any."""
    query = (
        select(Company)
        .join(CompanyMapping, CompanyMapping.company_id == Company.id)
        .where(
            CompanyMapping.partner_id == partner_id,
            CompanyMapping.agreement_id == agreement_id,
            CompanyMapping.status == "mapped",
        )
        .order_by(Company.id)
        .limit(1)
    )
    if besides is not None:
        query = query.where(Company.id != besides)
    return session.scalar(query)


def exclude_company(session: Session, company: Company, *, now: datetime) -> CompanyMapping:
    """Exclude a company from syncing (its ConnectWise additions are left as they are)."""
    mapping = _upsert(session, company, now)
    mapping.status = "excluded"
    session.flush()
    return mapping


def include_company(session: Session, company: Company) -> None:
    """Undo an exclusion: the company goes back to mapped (if it had an agreement) or unmatched."""
    mapping = get_mapping(session, company)
    if mapping is None or mapping.status != "excluded":
        return
    if mapping.agreement_id is None:
        session.delete(mapping)
    else:
        mapping.status = "mapped"
    session.flush()


def unmatched_companies(session: Session, partner_id: int) -> dict[int, str]:
    """Vendor companies with no mapping row: id -> name."""
    rows = session.execute(
        select(Company.id, Company.name)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == Company.id)
        .where(Company.partner_id == partner_id, CompanyMapping.id.is_(None))
    )
    return {company_id: name for company_id, name in rows}  # dict(Result) misreads .keys()


def fetch_match_candidates(client, vendor_names: Iterable[str]):
    """Read ConnectWise companies once and the agreements of same-named ones in batches."""
    wanted = {normalise_name(n) for n in vendor_names}
    companies = [
        c
        for c in client.companies(conditions=cond.eq("deletedFlag", False))
        if normalise_name(c.name) in wanted
    ]
    agreements: dict[int, list[Agreement]] = defaultdict(list)
    for agreement in client.agreements_of_companies(c.id for c in companies):
        agreements[agreement.company_id].append(agreement)
    return companies, agreements


def automatch(session: Session, partner_id: int, client, *, now: datetime) -> list[MatchProposal]:
    """Auto-match every unmatched company; saves the unambiguous pairs, returns all proposals."""
    vendor = unmatched_companies(session, partner_id)
    if not vendor:
        return []
    cw_companies, agreements = fetch_match_candidates(client, vendor.values())
    proposals = plan_automatch(vendor, cw_companies, agreements, now)
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(vendor)))}
    saved = []
    for proposal in proposals:
        if proposal.agreement is not None:
            try:
                save_mapping(
                    session,
                    companies[proposal.company_id],
                    proposal.cw_company.id,
                    proposal.agreement,
                    matched_by="auto",
                    now=now,
                )
            except InvalidInput as refused:  # e.g. two vendor companies of one normalised name
                proposal = MatchProposal(
                    proposal.company_id, proposal.cw_company, None, str(refused)
                )
        saved.append(proposal)
    return saved


def unmatched_names(session: Session, company_ids: list[int]) -> dict[int, str]:
    """Display names ("Name (external id)") for a batch of companies."""
    rows = session.execute(
        select(Company.id, Company.name, Company.external_id).where(Company.id.in_(company_ids))
    )
    return {cid: f"{name} ({external})" for cid, name, external in rows}
