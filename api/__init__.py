"""The REST API for sales ops and scripts: `/api/*`, bearer-token protected."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app

from errors import ApiError
from webhooks.verify import bearer_matches

bp = Blueprint("api", __name__, url_prefix="/api")
PUBLIC_PATHS = {"/api/openapi.json"}


@bp.before_request
def require_token():
    from flask import request

    if request.path in PUBLIC_PATHS:
        return None
    if not bearer_matches(current_app.extensions["connector"].settings.api_token):
        raise ApiError(401, "unauthorized", "missing or wrong Authorization: Bearer token")
    return None


def register(app: Flask) -> None:
    from api import batches, calls, openapi  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
