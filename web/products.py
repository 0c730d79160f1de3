"""Product mappings: each vendor product to a live-fetched, active ConnectWise catalog product."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from billing_sync.catalog import get_product, list_products, map_product, product_mappings
from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import NotFoundError
from web.common import cw_problem, id_arg, page_client, partner_id, saving
from web.state import db, now

bp = Blueprint("products", __name__, url_prefix="/products")


def _catalog() -> tuple[list, str | None]:
    try:
        with page_client() as client:
            items = sorted(
                (i for i in client.catalog_items() if not i.is_bundle),
                key=lambda item: item.identifier.lower(),
            )
            return items, None
    except (NotFoundError, SecretDecryptError) as exc:
        return [], str(exc)
    except ConnectWiseError as exc:
        return [], cw_problem(exc)


@bp.get("/")
def index():
    """Vendor products with their mapping and a choice of ConnectWise catalog products."""
    catalog, problem = _catalog()
    return render_template(
        "products.html",
        products=list_products(db()),
        catalog=catalog,
        mappings=product_mappings(db(), partner_id()),
        problem=problem,
    )


@bp.post("/<code>")
def save(code: str):
    """Map one vendor product to the chosen catalog product."""
    product = get_product(db(), code)
    cw_product_id = id_arg("cw_product_id", form=True)
    if cw_product_id is None:
        flash(f"Choose a ConnectWise product for {product.name}.", "error")
        return redirect(url_for(".index"))
    with saving() as outcome:
        with page_client() as client:
            item = client.catalog_item(cw_product_id)
        map_product(db(), partner_id(), product, item, now=now())
    if outcome.ok:
        flash(f"{product.name} is billed as {item.identifier}.", "success")
    return redirect(url_for(".index"))
