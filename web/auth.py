"""Sign-in, sign-out and the guards every request passes: session required, viewers read-only.

A session is a signed cookie holding the user's id and session token (User.session_token) and
the instant of sign-in. It is refused once the token changed (sign-out ends every session of
that user) or BILLING_SYNC_SESSION_HOURS have passed since sign-in, however active it was.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass, field
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
    session,
    url_for,
)
from flask_limiter import RateLimitExceeded
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from billing_sync.errors import InvalidInput
from billing_sync.models import User
from billing_sync.partners import authenticate_user, end_sessions, session_token
from billing_sync.validation import has_control, record_id
from web.ratelimit import retry_after
from web.state import db, now, state

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = {"auth.login", "static", "ops.healthz", "ops.readyz", "ops.metrics"}
# /api/v1 checks Bearer tokens itself; a signed-in browser's cookie opens nothing there.
TOKEN_BLUEPRINTS = {"api", "api_docs"}
# What a viewer (finance staff) may read; every write needs an admin.
VIEWER_BLUEPRINTS = {"auth", "dashboard", "runs", "usage", "tokens", "orphans", "holds"}
# Pages of other blueprints a viewer may read too: the companies' sync status, the checklist.
VIEWER_ENDPOINTS = {"companies.index", "checklist.index"}
VIEWER_REFUSED = "This action needs an admin; you are signed in as a viewer."
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_NEXT = 1000  # a longer ?next= is dropped: a redirect never carries a 20 KB Location
SIGNED_IN_AT = "signed_in_at"  # session key: POSIX seconds of the sign-in, by the app's clock


@dataclass
class SignedIn(UserMixin):
    """The signed-in user as the pages need it (no ORM object outlives its request)."""

    id: int
    email: str
    partner_id: int
    role: str
    session_token: str = field(repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        # What Flask-Login keeps in the session: the id and the token it was issued with.
        return f"{self.id}:{self.session_token}"


def _signed_in(user: User) -> SignedIn:
    return SignedIn(user.id, user.email, user.partner_id, user.role, user.session_token)


def _expired() -> bool:
    started = session.get(SIGNED_IN_AT)
    if not isinstance(started, int | float):
        return True  # a session from before sign-in times were kept
    return now().timestamp() - started >= state().settings.session_hours * 3600


def _load_user(session_id: str) -> SignedIn | None:
    """The user a session names, if it carries the user's current token and is young enough."""
    raw_id, _, token = session_id.partition(":")
    try:
        user_id = record_id(raw_id, "user id")
    except InvalidInput:
        return None
    if not token or _expired():
        return None
    user = db().get(User, user_id)
    if user is None or not user.session_token:
        return None
    if not hmac.compare_digest(token.encode(), user.session_token.encode()):
        return None  # signed out (everywhere) since this session was issued
    return _signed_in(user)


def admin_only(view):
    """Mark a read view that viewers may not open either (e.g. an upload form)."""
    view.admin_only = True
    return view


def _guard():
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or request.blueprint in TOKEN_BLUEPRINTS:
        return None  # unknown URLs fall through to 404
    if not current_user.is_authenticated:
        if request.accept_mimetypes.best == "application/json" or request.path.endswith(".json"):
            abort(401)
        return redirect(url_for("auth.login", next=_came_from()))
    if current_user.is_admin or endpoint == "auth.logout":
        return None
    view = current_app.view_functions.get(endpoint)
    readable = request.blueprint in VIEWER_BLUEPRINTS or endpoint in VIEWER_ENDPOINTS
    if request.method not in READ_METHODS or not readable or getattr(view, "admin_only", False):
        abort(403, description=VIEWER_REFUSED)
    return None


def init_app(app: Flask) -> None:
    """Install Flask-Login and the guard (before CSRF, so an anonymous POST is sent to login)."""
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.user_loader(_load_user)
    manager.init_app(app)
    app.before_request(_guard)
    app.register_blueprint(bp)


def _came_from() -> str | None:
    """Where to return after sign-in: the page asked for, without its query if that is too long."""
    for target in (request.full_path.rstrip("?"), request.path):
        if len(target) <= MAX_NEXT:
            return target
    return None


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    # Browsers read "/\evil.example" as "//evil.example", so a backslash is refused too.
    if (
        target
        and len(target) <= MAX_NEXT
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not has_control(target)
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
        # A 401 counts as a failure; the e-mail is shown back at most as long as the column.
        return render_template("login.html", email=email[:255]), 401
    session_token(user)
    db().commit()  # an account from before session tokens gets one now
    target = _safe_next(request.args.get("next"))
    # A new session: nothing carried over from before sign-in, and a new CSRF token.
    session.clear()
    login_user(_signed_in(user))
    session.permanent = True  # the cookie expires after BILLING_SYNC_SESSION_HOURS too
    session[SIGNED_IN_AT] = now().timestamp()
    return redirect(target)


@bp.errorhandler(RateLimitExceeded)
def _locked_out(_exc: RateLimitExceeded):
    # The same words for every e-mail, known or not: a lockout must not reveal an account.
    wait = retry_after(state().limiter)
    minutes = math.ceil(wait / 60)
    flash(f"Too many failed sign-ins; try again in {minutes} minute(s).", "error")
    email = request.form.get("email", "").strip().lower()[:255]
    return render_template("login.html", email=email), 429, {"Retry-After": str(wait)}


@bp.post("/logout")
def logout():
    """Sign out here and in every other browser: all of this user's sessions end now."""
    user = db().get(User, current_user.id)
    if user is not None:
        end_sessions(user)
        db().commit()
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
