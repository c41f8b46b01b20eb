"""Configuration health, checked by the worker and cached for the console.

The web process never calls a vendor inside a request, so the console shows the result of
the last `refresh_health` task (stored in CachedValue "health") and a button to queue a new
one. Every detail string is redacted of configured secrets before it is stored.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain.hubspot_schema import contact_property_definitions
from logs import RedactSecrets
from store.clock import utcnow
from store.models import CachedValue, InboundEvent

HEALTH_CACHE_KEY = "health"
WEBHOOK_REGISTRATION_KEY = "talkstack_webhook_registration"
STALE_AFTER_SECONDS = 300  # the sweeper refreshes a result older than this
RECENT_WEBHOOK_DAYS = 7
MAX_DETAIL = 300
CHECK_ORDER = ("hubspot", "properties", "talkstack", "agent", "webhook")
CHECK_LABELS = {
    "hubspot": "HubSpot reachable",
    "properties": "HubSpot contact properties present",
    "talkstack": "Talkstack reachable",
    "agent": "Default Talkstack agent exists",
    "webhook": "Talkstack call-status webhook registered",
}


def talkstack_webhook_url(settings) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}/webhooks/talkstack/{settings.talkstack_webhook_token}"


def _url_digest(url: str) -> str:
    # Only a digest is stored: the URL carries the webhook token, a secret.
    return hashlib.sha256(url.encode()).hexdigest()


def _result(ok: bool | None, detail: str, **extra) -> dict:
    return {"ok": ok, "detail": detail, **extra}


class _Checker:
    def __init__(self, rt) -> None:
        self.rt = rt
        self.redactor = RedactSecrets(rt.settings.secrets())

    def failure(self, exc: Exception) -> dict:
        text = f"{type(exc).__name__}: {exc}"
        return _result(False, self.redactor.redact(text)[:MAX_DETAIL])

    def run(self, check) -> dict:
        try:
            return check()
        except Exception as exc:  # one failed check must not hide the others
            return self.failure(exc)


def required_properties(rt) -> list[str]:
    s = rt.settings
    names = [d["name"] for d in contact_property_definitions(rt.rules.questions)]
    names += [s.call_trigger_property, *s.do_not_call_properties]
    return sorted(set(names))


def _hubspot(rt) -> dict:
    rt.hubspot.check_access()
    return _result(True, f"API at {rt.settings.hubspot_api_base} accepted the access token")


def _properties(rt) -> dict:
    present = rt.hubspot.get_property_names("contacts")
    missing = [name for name in required_properties(rt) if name not in present]
    if missing:
        return _result(False, f"missing: {', '.join(missing)} (run `flask connector setup`)",
                       missing=missing)
    return _result(True, f"all {len(required_properties(rt))} properties exist", missing=[])


def _talkstack(rt) -> tuple[dict, dict]:
    agents = rt.talkstack.list_agents()
    reachable = _result(True, f"API at {rt.settings.talkstack_api_base} answered "
                              f"({len(agents)} agents)")
    default = rt.settings.talkstack_agent_id
    if any(agent.id == default for agent in agents):
        return reachable, _result(True, f"agent {default} found")
    return reachable, _result(False, f"TALKSTACK_AGENT_ID {default} is not one of the "
                                     f"project's {len(agents)} agents")


def _webhook(rt) -> dict:
    """Talkstack has no read-back for the webhook URL in our client, so this relies on what
    `setup` recorded and on webhooks actually arriving."""
    expected = _url_digest(talkstack_webhook_url(rt.settings))
    with rt.db.session() as session:
        registration = session.get(CachedValue, WEBHOOK_REGISTRATION_KEY)
        last = session.scalar(select(func.max(InboundEvent.created_at))
                              .where(InboundEvent.source == "talkstack"))
    received = f"; last call-status webhook received {last:%Y-%m-%d %H:%M:%S} UTC" if last else ""
    if registration is not None:
        at = registration.value.get("at", "?")
        if registration.value.get("urlSha256") == expected:
            return _result(True, f"registered by setup at {at} UTC{received}")
        return _result(False, "the registered URL differs from PUBLIC_BASE_URL and "
                              "TALKSTACK_WEBHOOK_TOKEN (run `flask connector setup`)")
    if last and last >= utcnow() - timedelta(days=RECENT_WEBHOOK_DAYS):
        return _result(True, f"receiving call-status webhooks{received}")
    return _result(None, "not verified: no registration recorded and no webhook received yet "
                         "(run `flask connector setup`)")


def check_health(rt) -> dict:
    """Run every check now (vendor calls: worker only). Never raises."""
    checker = _Checker(rt)
    checks = {"hubspot": checker.run(lambda: _hubspot(rt))}
    checks["properties"] = (checker.run(lambda: _properties(rt))
                            if checks["hubspot"]["ok"] else
                            _result(None, "not checked: HubSpot is not reachable"))
    try:
        checks["talkstack"], checks["agent"] = _talkstack(rt)
    except Exception as exc:
        checks["talkstack"] = checker.failure(exc)
        checks["agent"] = _result(None, "not checked: Talkstack is not reachable")
    checks["webhook"] = checker.run(lambda: _webhook(rt))
    healthy = all(checks[name]["ok"] is not False for name in CHECK_ORDER)
    return {"checkedAt": utcnow().isoformat(timespec="seconds"), "healthy": healthy,
            "checks": checks}


def store_cached_value(rt, key: str, value) -> None:
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    now = utcnow()
    with rt.db.session() as session:
        session.execute(insert(CachedValue).values(key=key, value=value, updated_at=now)
                        .on_conflict_do_update(index_elements=["key"],
                                               set_={"value": value, "updated_at": now}))


def refresh_health(rt) -> dict:
    """The worker task: check and cache the result for the console."""
    result = check_health(rt)
    store_cached_value(rt, HEALTH_CACHE_KEY, result)
    return result


def cached_health(rt) -> dict | None:
    """The last stored result (web tier: database only)."""
    with rt.db.session() as session:
        row = session.get(CachedValue, HEALTH_CACHE_KEY)
        return dict(row.value) if row is not None else None


def health_due(rt, max_age_seconds: float = STALE_AFTER_SECONDS) -> bool:
    """True when no result is cached or it is older than `max_age_seconds` (sweeper)."""
    with rt.db.session() as session:
        updated = session.scalar(select(CachedValue.updated_at)
                                 .where(CachedValue.key == HEALTH_CACHE_KEY))
    return updated is None or updated < utcnow() - timedelta(seconds=max_age_seconds)


def record_webhook_registration(rt, url: str) -> None:
    """Remember (as a digest) which URL setup registered with Talkstack."""
    store_cached_value(rt, WEBHOOK_REGISTRATION_KEY,
           {"urlSha256": _url_digest(url), "at": utcnow().isoformat(timespec="seconds")})


class HealthCollector:
    """Prometheus gauges from the cached result: 1 ok, 0 problem, -1 unknown, per check."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        try:
            result = cached_health(self.rt)
        except Exception:  # a scrape must not fail because the database is briefly away
            return
        if result is None:
            return
        family = GaugeMetricFamily("connector_health_check",
                                   "Last configuration health check (1 ok, 0 problem, -1 unknown)",
                                   labels=["check"])
        for name in CHECK_ORDER:
            ok = result.get("checks", {}).get(name, {}).get("ok")
            family.add_metric([name], {True: 1, False: 0}.get(ok, -1))
        yield family


def install_health_collector(rt) -> HealthCollector:
    from metrics import install_collector

    return install_collector("health", HealthCollector(rt))
