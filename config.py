"""Configuration from the environment (and `.env`), validated once at start-up.

The names are exactly those of SPEC §3. A missing required variable raises ConfigError
with one line naming it. When no vendor credential is set at all, the service runs as the
sandbox (SPEC §10) and the vendor settings are filled in by the sandbox launcher.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dotenv import dotenv_values

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"

VENDOR_CREDENTIALS = (
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_SECRET",
    "TALKSTACK_API_KEY",
    "TALKSTACK_EMAIL",
    "TALKSTACK_PASSWORD",
)
ALWAYS_REQUIRED = (
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_SECRET",
    "TALKSTACK_PROJECT_ID",
    "TALKSTACK_AGENT_ID",
    "TALKSTACK_WEBHOOK_TOKEN",
    "PUBLIC_BASE_URL",
    "API_TOKEN",
)
SECRET_NAMES = (
    "API_TOKEN",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_SECRET",
    "TALKSTACK_API_KEY",
    "TALKSTACK_PASSWORD",
    "HUBSPOT_DEVELOPER_API_KEY",
    "TALKSTACK_WEBHOOK_TOKEN",
)


class ConfigError(Exception):
    """Start-up configuration is wrong; the message is one line meant for the operator."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, raw: str, minimum: float = 0.0) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    hubspot_access_token: str = ""
    hubspot_client_secret: str = ""
    hubspot_api_base: str = "https://api.hubapi.com"
    hubspot_rate_limit: int = 100
    talkstack_api_key: str = ""
    talkstack_email: str = ""
    talkstack_password: str = ""
    talkstack_api_base: str = "https://api.talkstackai.com"
    talkstack_calls_base: str = "https://calls.talkstack.ai"
    talkstack_project_id: str = ""
    talkstack_agent_id: str = ""
    talkstack_webhook_token: str = ""
    public_base_url: str = ""
    api_token: str = ""
    database_url: str = ""
    redis_url: str = ""
    queue_url: str = ""
    default_phone_region: str = "US"
    call_trigger_property: str = "talkstack_call_requested"
    call_on_contact_creation: bool = False
    call_variables: tuple[str, ...] = ("firstname", "lastname", "company")
    call_cooldown_hours: float = 24.0
    do_not_call_properties: tuple[str, ...] = ("talkstack_do_not_call",)
    hubspot_app_id: str = ""
    hubspot_developer_api_key: str = ""
    batch_max_rows: int = 5000
    call_retry_statuses: tuple[str, ...] = ("no-answer", "busy")
    call_retry_delay_minutes: float = 60.0
    call_max_attempts: int = 3
    connector_config: str = ""
    # Operational knobs (not in SPEC §3 but documented in the README).
    sandbox: bool = False
    instance_path: str = str(INSTANCE_DIR)
    reconcile_after_seconds: int = 120
    sweep_interval_seconds: float = 10.0
    lease_seconds: int = 45
    outbox_linger_seconds: float = 1.5
    worker_threads: int = 4
    queue_name: str = "connector"
    worker_metrics_port: int = 0  # >0: the worker serves its own /metrics on this port
    extra: dict = field(default_factory=dict, compare=False)

    def secrets(self) -> list[str]:
        """Every secret value currently configured (for log redaction)."""
        return [v for v in (getattr(self, n.lower(), "") for n in SECRET_NAMES) if v]

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


_PARSERS = {
    "hubspot_rate_limit": lambda n, v: _int(n, v, 1),
    "call_on_contact_creation": _bool,
    "call_variables": lambda n, v: _list(v),
    "call_cooldown_hours": _float,
    "do_not_call_properties": lambda n, v: _list(v),
    "batch_max_rows": lambda n, v: _int(n, v, 1),
    "call_retry_statuses": lambda n, v: _list(v),
    "call_retry_delay_minutes": _float,
    "call_max_attempts": lambda n, v: _int(n, v, 1),
    "reconcile_after_seconds": lambda n, v: _int(n, v, 0),
    "sweep_interval_seconds": lambda n, v: _float(n, v, 0.05),
    "lease_seconds": lambda n, v: _int(n, v, 1),
    "outbox_linger_seconds": lambda n, v: _float(n, v, 0.0),
    "worker_threads": lambda n, v: _int(n, v, 1),
    "worker_metrics_port": lambda n, v: _int(n, v, 0),
    "sandbox": _bool,
}


def read_environment(
    environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
) -> dict:
    """The process environment over the `.env` file (the environment wins)."""
    values: dict[str, str] = {}
    if dotenv_path and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def is_sandbox_environment(values: Mapping[str, str]) -> bool:
    """No vendor credential at all means the sandbox (SPEC §3, last paragraph)."""
    return not any(values.get(name) for name in VENDOR_CREDENTIALS)


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env", **overrides
) -> Settings:
    values = read_environment(environ, dotenv_path)
    kwargs: dict = {}
    for f in fields(Settings):
        env_name = f.name.upper()
        if f.name == "extra" or env_name not in values:
            continue
        raw = values[env_name]
        parser = _PARSERS.get(f.name)
        kwargs[f.name] = parser(env_name, raw) if parser else raw.strip()
    kwargs.update(overrides)
    settings = Settings(**kwargs)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Raise ConfigError naming the first missing or inconsistent variable."""
    # The sandbox launcher fills every vendor setting in before validation, so no exemption
    # is needed here: a sandbox Settings is as complete as a production one.
    for name in ALWAYS_REQUIRED:
        if not getattr(settings, name.lower()):
            raise ConfigError(f"missing required environment variable {name}")
    if not settings.talkstack_api_key and not (
        settings.talkstack_email and settings.talkstack_password
    ):
        raise ConfigError(
            "missing required environment variable TALKSTACK_API_KEY "
            "(or TALKSTACK_EMAIL and TALKSTACK_PASSWORD)"
        )
    for name in (
        "PUBLIC_BASE_URL",
        "HUBSPOT_API_BASE",
        "TALKSTACK_API_BASE",
        "TALKSTACK_CALLS_BASE",
    ):
        value = getattr(settings, name.lower())
        if value and not value.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.instance_path) / 'connector.db'}"


def queue_url(settings: Settings) -> str:
    """Where the job queue lives: QUEUE_URL, else Redis, else SQLite beside the database."""
    if settings.queue_url:
        return settings.queue_url
    if settings.redis_url:
        return settings.redis_url
    db = database_url(settings)
    if db.startswith("sqlite:///") and db != "sqlite:///:memory:":
        return f"sqlite:///{Path(db[len('sqlite:///') :]).with_name('queue.db')}"
    return f"sqlite:///{Path(settings.instance_path) / 'queue.db'}"
