"""Sign-in, sign-out and the guards every request passes: session required, viewers read-only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import RateLimitExceeded
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from billing_sync.models import User
from billing_sync.partners import authenticate_user
from web.ratelimit import retry_after
from web.state import db, state

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = {"auth.login", "static", "ops.healthz", "ops.readyz", "ops.metrics"}
# What a viewer (finance staff) may read; every write needs an admin.
VIEWER_BLUEPRINTS = {"auth", "dashboard", "runs", "usage"}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class SignedIn(UserMixin):
    """The signed-in user as the pages need it (no ORM object outlives its request)."""

    id: int
    email: str
    partner_id: int
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _signed_in(user: User) -> SignedIn:
    return SignedIn(user.id, user.email, user.partner_id, user.role)


def _load_user(user_id: str) -> SignedIn | None:
    user = db().get(User, int(user_id)) if user_id.isdigit() else None
    return None if user is None else _signed_in(user)


def admin_only(view):
    """Mark a read view that viewers may not open either (e.g. an upload form)."""
    view.admin_only = True
    return view


def _guard():
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None  # unknown URLs fall through to 404
    if not current_user.is_authenticated:
        if request.accept_mimetypes.best == "application/json" or request.path.endswith(".json"):
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if current_user.is_admin or endpoint == "auth.logout":
        return None
    view = current_app.view_functions.get(endpoint)
    if (
        request.method not in READ_METHODS
        or request.blueprint not in VIEWER_BLUEPRINTS
        or getattr(view, "admin_only", False)
    ):
        abort(403)
    return None


def init_app(app: Flask) -> None:
    """Install Flask-Login and the guard (before CSRF, so an anonymous POST is sent to login)."""
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.user_loader(_load_user)
    manager.init_app(app)
    app.before_request(_guard)
    app.register_blueprint(bp)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password; failures are throttled (web/ratelimit.py)."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("dashboard.index"))
        return render_template("login.html")
    email = request.form.get("email", "").strip().lower()
    user = authenticate_user(db(), email, request.form.get("password", ""))
    if user is None:
        flash("E-mail or password is wrong.", "error")
        return render_template("login.html", email=email), 401  # a 401 counts as a failure
    login_user(_signed_in(user))
    return redirect(_safe_next(request.args.get("next")))


@bp.errorhandler(RateLimitExceeded)
def _locked_out(_exc: RateLimitExceeded):
    # The same words for every e-mail, known or not: a lockout must not reveal an account.
    wait = retry_after(state().limiter)
    minutes = math.ceil(wait / 60)
    flash(f"Too many failed sign-ins; try again in {minutes} minute(s).", "error")
    email = request.form.get("email", "").strip().lower()
    return render_template("login.html", email=email), 429, {"Retry-After": str(wait)}


@bp.post("/logout")
def logout():
    """Sign out."""
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
