"""Console login (API_TOKEN → signed session cookie) and CSRF protection.

The session cookie is signed with SECRET_KEY (set from API_TOKEN by app.py), so rotating
the token also ends every console session. Each session gets a random CSRF token that
every POST form must echo in a hidden field.
"""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import urlsplit

from flask import redirect, render_template, request, session, url_for

from console import bp, error_page, runtime

SESSION_MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
PUBLIC_ENDPOINTS = {"console.login", "console.static"}


def _same(offered: str, expected: str) -> bool:
    return bool(offered) and bool(expected) and hmac.compare_digest(
        offered.encode(), expected.encode())


def logged_in() -> bool:
    started = session.get("console_login_at")
    return (session.get("console_auth") is True and isinstance(started, (int, float))
            and time.time() - started < SESSION_MAX_AGE_SECONDS)


def csrf_token() -> str:
    return session.get("console_csrf", "")


def csrf_valid() -> bool:
    return _same(request.form.get(CSRF_FIELD, ""), csrf_token())


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//` (open redirects)."""
    if not target:
        return url_for("console.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("console.index")
    return target


@bp.context_processor
def _template_globals():
    settings = runtime().settings
    return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD, "is_sandbox": settings.sandbox,
            "logged_in": logged_in}


@bp.before_request
def guard():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not logged_in():
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        return error_page(401, "login_required", "log in to the console first")
    if request.method == "POST" and not csrf_valid():
        return error_page(400, "csrf_failed", "the form's CSRF token is missing or wrong; "
                                              "reload the page and try again")
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next=target, error=None)
    offered = request.form.get("token", "").strip()
    if not _same(offered, runtime().settings.api_token):
        return render_template("console/login.html", next=target,
                               error="That is not the API token."), 401
    session.clear()  # a new session: no fixation of a pre-login cookie
    session.update(console_auth=True, console_login_at=time.time(),
                   console_csrf=secrets.token_urlsafe(32))
    return redirect(target, code=303)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console.login"), code=303)
