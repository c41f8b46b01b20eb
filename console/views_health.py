"""Configuration health: the worker's last check, and the configuration without secrets."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from console import bp, runtime
from jobs.health import CHECK_LABELS, CHECK_ORDER, cached_health, talkstack_webhook_url

SECRET_SETTINGS = ("API_TOKEN", "HUBSPOT_ACCESS_TOKEN", "HUBSPOT_CLIENT_SECRET",
                   "HUBSPOT_DEVELOPER_API_KEY", "TALKSTACK_API_KEY", "TALKSTACK_PASSWORD",
                   "TALKSTACK_WEBHOOK_TOKEN")
MASKED_TOKEN = "<TALKSTACK_WEBHOOK_TOKEN>"


def configuration(rt) -> list[tuple[str, str]]:
    """What an operator needs to see; secrets only as set / not set, never their value."""
    s = rt.settings
    masked_webhook = talkstack_webhook_url(s).rsplit("/", 1)[0] + "/" + MASKED_TOKEN
    return [
        ("Mode", "SANDBOX (simulated vendors)" if s.sandbox else "production"),
        ("PUBLIC_BASE_URL", s.public_base_url),
        ("HUBSPOT_API_BASE", s.hubspot_api_base),
        ("HUBSPOT_RATE_LIMIT", f"{s.hubspot_rate_limit} requests / 10 s"),
        ("HUBSPOT_APP_ID", s.hubspot_app_id or "not set"),
        ("TALKSTACK_API_BASE", s.talkstack_api_base),
        ("TALKSTACK_CALLS_BASE", s.talkstack_calls_base),
        ("TALKSTACK_PROJECT_ID", s.talkstack_project_id),
        ("TALKSTACK_AGENT_ID", s.talkstack_agent_id),
        ("Talkstack authentication", "API key" if s.talkstack_api_key else "email + password"),
        ("Talkstack webhook URL", masked_webhook),
        ("Database", rt.db.engine.dialect.name),
        ("Queue", "Redis" if s.redis_url else "SQLite (embedded)"),
        ("CALL_TRIGGER_PROPERTY", s.call_trigger_property),
        ("DO_NOT_CALL_PROPERTIES", ", ".join(s.do_not_call_properties)),
        ("CALL_VARIABLES", ", ".join(s.call_variables)),
        ("CALL_COOLDOWN_HOURS", f"{s.call_cooldown_hours:g}"),
        ("CALL_RETRY_STATUSES", ", ".join(s.call_retry_statuses)),
        ("CALL_RETRY_DELAY_MINUTES", f"{s.call_retry_delay_minutes:g}"),
        ("CALL_MAX_ATTEMPTS", str(s.call_max_attempts)),
        ("BATCH_MAX_ROWS", str(s.batch_max_rows)),
    ]


def secrets_present(rt) -> list[tuple[str, bool]]:
    return [(name, bool(getattr(rt.settings, name.lower(), ""))) for name in SECRET_SETTINGS]


def queue_depth(rt) -> int | None:
    try:
        return rt.queue.pending_count()
    except Exception:  # the page still renders when the queue is briefly away
        return None


@bp.get("/health")
def health():
    rt = runtime()
    result = cached_health(rt)
    checks = [(name, CHECK_LABELS[name], (result or {}).get("checks", {}).get(name))
              for name in CHECK_ORDER]
    return render_template("console/health.html", result=result, checks=checks,
                           configuration=configuration(rt), secrets=secrets_present(rt),
                           queue_depth=queue_depth(rt))


@bp.post("/health/check")
def check_health_now():
    try:
        runtime().enqueue("refresh_health")
    except KeyError:
        flash("This deployment's worker has no refresh_health task.", "bad")
    except Exception:
        flash("The queue is unavailable; try again shortly.", "bad")
    else:
        flash("Health check queued: the worker runs it in a moment; reload to see it.", "ok")
    return redirect(url_for("console.health"), code=303)
