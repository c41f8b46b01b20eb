"""The operations console at `/`: server-rendered pages over the database.

Login with API_TOKEN sets a signed session cookie; every state-changing form carries a
per-session CSRF token. Pages only read the database (and queue wake-ups): the web process
never calls a vendor, so configuration health shows what the worker last found.
"""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
               static_url_path="/console/static")

STATE_CLASSES = {
    "ok": ("done", "completed", "uploaded", "healthy", "true", "Connected"),
    "bad": ("dead", "failed", "unhealthy", "false", "canceled", "Failed"),
    "muted": ("skipped", "ignored", "unmatched", "none"),
}


def runtime():
    return current_app.extensions["connector"]


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_page(status: int, code: str, message: str):
    """HTML for browsers, the service's JSON error shape for everything else."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        return response
    return render_template("console/error.html", status=status, code=code,
                           message=message), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_page(exc.code or 500, code, exc.description or exc.name)


def _format_time(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _state_class(value) -> str:
    text = "" if value is None else str(value)
    for css, states in STATE_CLASSES.items():
        if text in states:
            return css
    return "pending"


def _ok_mark(value) -> Markup:
    css, label = {True: ("ok", "ok"), False: ("bad", "problem")}.get(value, ("pending", "unknown"))
    return Markup('<span class="badge {}">{}</span>').format(css, label)


for _name, _filter in (("dt", _format_time), ("pretty_json", _pretty_json),
                       ("state_class", _state_class), ("ok_mark", _ok_mark)):
    bp.add_app_template_filter(_filter, _name)


def register(app: Flask) -> None:
    from console import (  # noqa: F401  (routes and hooks attach to bp)
        auth,
        safety,
        views_batches,
        views_calls,
        views_events,
        views_health,
        views_sandbox,
    )
    from jobs.health import install_health_collector

    app.register_blueprint(bp)
    install_health_collector(app.extensions["connector"])
