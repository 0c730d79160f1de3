"""Vendor products and their mapping to ConnectWise catalog items."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.connectwise.records import CatalogItem
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Product, ProductMapping
from billing_sync.validation import shown, text

CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def add_product(session: Session, code: str, name: str) -> Product:
    """Register a vendor product (codes are lower-case handles like pb-business)."""
    if not CODE.fullmatch(code):
        raise InvalidInput("product code must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    name = text(name, "product name", 255)
    if session.scalar(select(Product.id).where(Product.code == code)) is not None:
        raise InvalidInput(f"product {code!r} already exists")
    product = Product(code=code, name=name)
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, code: str) -> Product:
    """The product with this code, or NotFoundError."""
    product = session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise NotFoundError(f"no product with code {shown(code)}")
    return product


def list_products(session: Session) -> list[Product]:
    """All vendor products by code."""
    return list(session.scalars(select(Product).order_by(Product.code)))


def product_mappings(session: Session, partner_id: int) -> dict[int, ProductMapping]:
    """The partner's mappings keyed by vendor product id."""
    rows = session.scalars(select(ProductMapping).where(ProductMapping.partner_id == partner_id))
    return {row.product_id: row for row in rows}


def map_product(
    session: Session, partner_id: int, product: Product, item: CatalogItem, *, now: datetime
) -> ProductMapping:
    """Point a vendor product at a ConnectWise catalog item (by id; names cached for display)."""
    if item.inactive:
        raise InvalidInput(f"ConnectWise catalog item {item.identifier} is inactive")
    if item.is_bundle:
        raise InvalidInput(
            f"ConnectWise catalog item {item.identifier} is a bundle; bundles cannot be "
            "agreement additions, so choose a non-bundle item"
        )
    mappings = product_mappings(session, partner_id)
    holder = next(
        (m for m in mappings.values() if m.cw_product_id == item.id and m.product_id != product.id),
        None,
    )
    if holder is not None:
        raise InvalidInput(
            f"ConnectWise catalog item {item.identifier} already bills vendor product "
            f"{holder.product.code}; one catalog item carries one vendor product"
        )
    mapping = mappings.get(product.id)
    if mapping is None:
        mapping = ProductMapping(partner_id=partner_id, product_id=product.id)
        session.add(mapping)
    mapping.cw_product_id = item.id
    mapping.cw_identifier = item.identifier
    mapping.cw_description = item.description
    mapping.updated_at = now
    session.flush()
    return mapping
