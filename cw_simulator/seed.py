"""Seed records into a state: partial CW JSON records laid over realistic defaults."""

from __future__ import annotations

from typing import Any

from cw_simulator import records as rec
from cw_simulator.records import KINDS
from cw_simulator.store import SimulatorState


def state_from_seed(seed: dict[str, Any]) -> SimulatorState:
    """A state built from `to_seed()` output or a hand-written seed of partial CW records."""
    creds = seed.get("credentials", {})
    names = ("companyId", "publicKey", "privateKey", "clientId", "codebase", "companyName")
    args = ("company_id", "public_key", "private_key", "client_id", "codebase", "company_name")
    given = {arg: creds[name] for name, arg in zip(names, args, strict=True) if name in creds}
    state = SimulatorState(**given)
    load_records(state, seed)
    return state


def load_records(state: SimulatorState, seed: dict[str, Any]) -> None:
    """Add every seed record, keeping ids; fields given override the builders' defaults."""
    for kind in KINDS:
        for partial in seed.get(kind, []):
            built = _SEEDERS[kind](state, partial)
            record = _merge(built, partial)
            with state.lock:
                if kind == "additions":
                    rec.derive_addition(record, state.table("agreements")[record["agreementId"]])
                state.table(kind)[built["id"]] = record


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` laid over `base`, recursing into nested objects."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = _merge(out[key], value)
        out[key] = value
    return out


def _seed_company(state: SimulatorState, r: dict[str, Any]) -> dict[str, Any]:
    status = (r.get("status") or {}).get("name", "Active")
    return state.add_company(
        r["name"], r.get("identifier"), bool(r.get("deletedFlag")), status, id=r.get("id")
    )


def _seed_agreement(state: SimulatorState, r: dict[str, Any]) -> dict[str, Any]:
    return state.add_agreement(
        r["company"]["id"], r["name"], r.get("agreementStatus", "Active"),
        bool(r.get("cancelledFlag")), r.get("endDate"), r.get("noEndingDateFlag", True),
        (r.get("type") or {}).get("name", "Managed Services"), id=r.get("id"),
    )  # fmt: skip


def _seed_catalog(state: SimulatorState, r: dict[str, Any]) -> dict[str, Any]:
    return state.add_catalog_item(
        r["identifier"], r["description"], bool(r.get("inactiveFlag")),
        r.get("price", 0.0), r.get("cost", 0.0), id=r.get("id"),
    )  # fmt: skip


def _seed_addition(state: SimulatorState, r: dict[str, Any]) -> dict[str, Any]:
    return state.add_addition(
        r["agreementId"], r["product"]["id"], r.get("quantity", 0), r.get("cancelledDate"),
        r.get("effectiveDate"), r.get("description"), r.get("billCustomer", "Billable"),
        id=r.get("id"),
    )  # fmt: skip


_SEEDERS = {
    "companies": _seed_company,
    "agreements": _seed_agreement,
    "catalog": _seed_catalog,
    "additions": _seed_addition,
}
