"""Application factory. `create_app()` for tests and tools; `app:app` for gunicorn."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify

import metrics
from config import Settings, is_sandbox_environment, load_settings, read_environment
from errors import register_error_handlers
from logs import install_redaction
from runtime import Runtime
from store.migrate import upgrade

MAX_BODY_BYTES = 1024 * 1024
log = logging.getLogger(__name__)


def create_app(config: Settings | dict | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the app. `config` is Settings, or env-style overrides ({"API_TOKEN": ...})."""
    if isinstance(config, Settings):
        settings = config
    elif config is None and is_sandbox_environment(read_environment()):
        from sandbox_settings import sandbox_settings  # no vendor credential: SPEC §10

        settings = sandbox_settings()
    else:
        settings = load_settings(None if config is None else {**_environ(), **config})
    install_redaction(settings.secrets())
    runtime = runtime or Runtime(settings)
    if runtime.db.is_sqlite:
        upgrade(runtime.db)  # embedded default: web and worker migrate at start

    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SECRET_KEY=settings.api_token,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
    )
    app.json.sort_keys = False
    app.extensions["connector"] = runtime
    register_error_handlers(app)
    _register_health(app, runtime)
    _register_blueprints(app)
    if settings.sandbox:
        log.warning("SANDBOX MODE: HubSpot and Talkstack are simulated on loopback")
    return app


def _environ() -> dict:
    import os

    return dict(os.environ)


def _register_blueprints(app: Flask) -> None:
    from api import register as register_api
    from cli import register as register_cli
    from webhooks import register as register_webhooks

    register_webhooks(app)
    register_api(app)
    register_cli(app)
    try:
        from console import register as register_console
    except ImportError:  # the console is optional for headless deployments
        return
    register_console(app)


def _register_health(app: Flask, runtime: Runtime) -> None:
    metrics.install_state_collector(runtime)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        checks, ready = {}, True
        for name, probe in (("database", runtime.db.ping), ("queue", runtime.queue.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # report, don't crash: readiness is the question
                checks[name] = f"unavailable: {type(exc).__name__}"
                ready = False
        return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), (
            200 if ready else 503
        )

    @app.get("/metrics")
    def metrics_endpoint():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)


def __getattr__(name: str):
    # gunicorn resolves `app:app` through this, so importing the module stays side-effect free.
    if name == "app":
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
