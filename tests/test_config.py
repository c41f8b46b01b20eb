"""Configuration: SPEC §3 names, validation with one clear line, sandbox detection."""

from __future__ import annotations

import pytest

from config import (
    ALWAYS_REQUIRED,
    ConfigError,
    database_url,
    is_sandbox_environment,
    load_settings,
    queue_url,
)

BASE = {
    "HUBSPOT_ACCESS_TOKEN": "pat-x",
    "HUBSPOT_CLIENT_SECRET": "secret",
    "TALKSTACK_API_KEY": "key",
    "TALKSTACK_PROJECT_ID": "p",
    "TALKSTACK_AGENT_ID": "a",
    "TALKSTACK_WEBHOOK_TOKEN": "tok",
    "PUBLIC_BASE_URL": "https://c.example.com",
    "API_TOKEN": "api",
}


def load(**changes):
    env = {**BASE, **changes}
    return load_settings({k: v for k, v in env.items() if v is not None}, dotenv_path=None)


def test_defaults_follow_the_spec():
    s = load()
    assert s.hubspot_api_base == "https://api.hubapi.com"
    assert s.hubspot_rate_limit == 100
    assert s.talkstack_api_base == "https://api.talkstackai.com"
    assert s.talkstack_calls_base == "https://calls.talkstack.ai"
    assert s.default_phone_region == "US"
    assert s.call_trigger_property == "talkstack_call_requested"
    assert s.call_on_contact_creation is False
    assert s.call_variables == ("firstname", "lastname", "company")
    assert s.call_cooldown_hours == 24
    assert s.do_not_call_properties == ("talkstack_do_not_call",)
    assert s.batch_max_rows == 5000
    assert s.call_retry_statuses == ("no-answer", "busy")
    assert s.call_retry_delay_minutes == 60
    assert s.call_max_attempts == 3
    assert s.outbox_linger_seconds == 1.5  # operational knob (README), not SPEC §3


@pytest.mark.parametrize("name", ALWAYS_REQUIRED)
def test_each_missing_required_variable_is_named(name):
    with pytest.raises(ConfigError) as error:
        load(**{name: None})
    assert str(error.value) == f"missing required environment variable {name}"
    assert "\n" not in str(error.value)


def test_email_and_password_replace_the_api_key():
    s = load(TALKSTACK_API_KEY=None, TALKSTACK_EMAIL="a@b.c", TALKSTACK_PASSWORD="pw")
    assert s.talkstack_email == "a@b.c"
    with pytest.raises(ConfigError, match="TALKSTACK_API_KEY"):
        load(TALKSTACK_API_KEY=None, TALKSTACK_EMAIL="a@b.c")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUBSPOT_RATE_LIMIT", "lots"),
        ("HUBSPOT_RATE_LIMIT", "0"),
        ("CALL_ON_CONTACT_CREATION", "maybe"),
        ("CALL_COOLDOWN_HOURS", "-1"),
        ("CALL_MAX_ATTEMPTS", "0"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("OUTBOX_LINGER_SECONDS", "-0.5"),
        ("OUTBOX_LINGER_SECONDS", "soon"),
    ],
)
def test_bad_values_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigError, match=name):
        load(**{name: value})


def test_lists_and_numbers_parse():
    s = load(
        CALL_VARIABLES="firstname, jobtitle ,",
        CALL_RETRY_DELAY_MINUTES="0.5",
        CALL_ON_CONTACT_CREATION="TRUE",
        OUTBOX_LINGER_SECONDS="0",
    )
    assert s.outbox_linger_seconds == 0
    assert s.call_variables == ("firstname", "jobtitle")
    assert s.call_retry_delay_minutes == 0.5
    assert s.call_on_contact_creation is True


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in BASE.items()) + "HUBSPOT_RATE_LIMIT=50\n")
    s = load_settings({"HUBSPOT_RATE_LIMIT": "70"}, dotenv_path=str(dotenv))
    assert (s.api_token, s.hubspot_rate_limit) == ("api", 70)


def test_sandbox_means_no_vendor_credential_at_all():
    assert is_sandbox_environment({})
    assert is_sandbox_environment({"API_TOKEN": "x", "PUBLIC_BASE_URL": "http://x"})
    assert not is_sandbox_environment({"TALKSTACK_API_KEY": "k"})


def test_storage_locations(tmp_path):
    s = load(INSTANCE_PATH=str(tmp_path))
    assert database_url(s) == f"sqlite:///{tmp_path}/connector.db"
    assert queue_url(s) == f"sqlite:///{tmp_path}/queue.db"
    assert queue_url(load(REDIS_URL="redis://r:6379/0")) == "redis://r:6379/0"
    assert queue_url(load(REDIS_URL="redis://r", QUEUE_URL="sqlite:////q.db")) == "sqlite:////q.db"


def test_secrets_lists_every_configured_secret():
    s = load(HUBSPOT_DEVELOPER_API_KEY="dev-key", TALKSTACK_PASSWORD="pw")
    assert set(s.secrets()) == {"pat-x", "secret", "key", "tok", "api", "dev-key", "pw"}
