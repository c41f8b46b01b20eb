"""Settings for the sandbox (SPEC §10): every vendor setting pointed at the simulators.

Pure: no server is started here. `sandbox_settings()` is used by the sandbox launcher with
the URLs it actually bound, and by any other process of the same sandbox (e.g.
`flask connector call` in a second terminal) with the default or configured ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config import INSTANCE_DIR, Settings, load_settings, read_environment

LOOPBACK = "127.0.0.1"
DEFAULT_WEB_PORT = 8000
DEFAULT_HUBSPOT_PORT = 8101
DEFAULT_TALKSTACK_PORT = 8102
# Printed once at start when API_TOKEN is not set: the sandbox is loopback only.
DEFAULT_API_TOKEN = "sandbox-token"
SANDBOX_AGENT_ID = "agent-default"  # the Talkstack simulator's first agent
SANDBOX_WEBHOOK_TOKEN = "sandbox-webhook-token"

# The simulators' own credentials (simulators/hubspot.py, simulators/talkstack.py defaults).
SIM_HUBSPOT = {"access_token": "sim-hubspot-token", "client_secret": "sim-client-secret",
               "developer_api_key": "sim-dev-key", "app_id": "54321"}
SIM_TALKSTACK = {"api_key": "sim-talkstack-key", "project_id": "proj-sim"}

# Sandbox-friendly defaults the user's environment may still override.
SOFT_DEFAULTS = {
    "QUEUE_NAME": "sandbox",
    "CALL_RETRY_DELAY_MINUTES": "1",  # see a follow-up of a busy call within the session
    "SWEEP_INTERVAL_SECONDS": "2",
}
# Never taken from the environment: a sandbox must not touch a real database, queue or vendor.
FORCED_EMPTY = ("DATABASE_URL", "REDIS_URL", "QUEUE_URL", "TALKSTACK_EMAIL", "TALKSTACK_PASSWORD")


@dataclass(frozen=True)
class SandboxPorts:
    web: int = DEFAULT_WEB_PORT
    hubspot: int = DEFAULT_HUBSPOT_PORT
    talkstack: int = DEFAULT_TALKSTACK_PORT


def _port(values: Mapping[str, str], name: str, default: int) -> int:
    raw = (values.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a port number, got {raw!r}")
    return int(raw)


def ports_from(values: Mapping[str, str]) -> SandboxPorts:
    """PORT, SANDBOX_HUBSPOT_PORT and SANDBOX_TALKSTACK_PORT, else the fixed defaults."""
    return SandboxPorts(
        web=_port(values, "PORT", DEFAULT_WEB_PORT),
        hubspot=_port(values, "SANDBOX_HUBSPOT_PORT", DEFAULT_HUBSPOT_PORT),
        talkstack=_port(values, "SANDBOX_TALKSTACK_PORT", DEFAULT_TALKSTACK_PORT),
    )


def url_for_port(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def sandbox_instance_path(values: Mapping[str, str]) -> str:
    return values.get("INSTANCE_PATH") or str(INSTANCE_DIR / "sandbox")


def vendor_values(web_url: str, hubspot_url: str, talkstack_url: str,
                  agent_id: str = SANDBOX_AGENT_ID) -> dict[str, str]:
    return {
        "HUBSPOT_ACCESS_TOKEN": SIM_HUBSPOT["access_token"],
        "HUBSPOT_CLIENT_SECRET": SIM_HUBSPOT["client_secret"],
        "HUBSPOT_DEVELOPER_API_KEY": SIM_HUBSPOT["developer_api_key"],
        "HUBSPOT_APP_ID": SIM_HUBSPOT["app_id"],
        "HUBSPOT_API_BASE": hubspot_url,
        "TALKSTACK_API_KEY": SIM_TALKSTACK["api_key"],
        "TALKSTACK_PROJECT_ID": SIM_TALKSTACK["project_id"],
        "TALKSTACK_API_BASE": talkstack_url,
        "TALKSTACK_CALLS_BASE": talkstack_url,
        "TALKSTACK_AGENT_ID": agent_id,
        "TALKSTACK_WEBHOOK_TOKEN": SANDBOX_WEBHOOK_TOKEN,
        "PUBLIC_BASE_URL": web_url,
    }


def sandbox_settings(environ: Mapping[str, str] | None = None, *, web_url: str | None = None,
                     hubspot_url: str | None = None, talkstack_url: str | None = None,
                     agent_id: str = SANDBOX_AGENT_ID,
                     dotenv_path: str | None = ".env") -> Settings:
    """Settings for a sandbox whose servers listen at the given URLs (default: the ports
    from the environment). Non-vendor settings (CALL_VARIABLES, CONNECTOR_CONFIG, ...) are
    still read from the environment."""
    values = read_environment(environ, dotenv_path)
    ports = ports_from(values)
    merged = {**SOFT_DEFAULTS, **values,
              "API_TOKEN": values.get("API_TOKEN") or DEFAULT_API_TOKEN,
              "INSTANCE_PATH": sandbox_instance_path(values),
              **dict.fromkeys(FORCED_EMPTY, ""),
              **vendor_values(web_url or url_for_port(ports.web),
                              hubspot_url or url_for_port(ports.hubspot),
                              talkstack_url or url_for_port(ports.talkstack), agent_id)}
    return load_settings(merged, dotenv_path=None, sandbox=True)

