"""Strict validation of a parsed rules file: every mistake is collected with its key path
(entries of an array are numbered from 1, as they appear in the file)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

from domain.hubspot_schema import CORE_PROPERTY_NAMES
from domain.outcomes import ACTION_OUTPUT_NAMES
from domain.quiet_hours import WEEKDAYS, QuietHours, iana_name
from domain.rules_model import QUESTION_TYPES, Question, TriggerRule

PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")
QUESTION_KEY = re.compile(r"[a-z][a-z0-9_]*")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
RESERVED_VARIABLES = ("hubspot_contact_id",)  # always set by the connector

SECTIONS = ("variables", "quiet_hours", "analysis", "triggers")
QUIET_HOURS_KEYS = ("start", "end", "days", "default_timezone")
QUESTION_KEYS = ("key", "question", "type", "options", "property")
TRIGGER_KEYS = ("property", "equals", "in", "agent_id")


@dataclass
class Sections:
    variables: dict[str, str] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    questions: tuple[Question, ...] = ()
    triggers: tuple[TriggerRule, ...] = ()
    problems: list[str] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")


def _kind(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
        list: "an array",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _table(out: Sections, value: object, path: str, allowed: tuple[str, ...] | None) -> dict | None:
    """`value` if it is a table (reporting keys outside `allowed`; None = any key)."""
    if not isinstance(value, dict):
        out.problem(path, f"expected a table, got {_kind(value)}")
        return None
    for key in value:
        if allowed is not None and key not in allowed:
            out.problem(f"{path}.{key}", f"unknown key (allowed: {', '.join(allowed)})")
    return value


def _string(out: Sections, table: dict, key: str, path: str, required: bool = True) -> str | None:
    if key not in table:
        if required:
            out.problem(f"{path}.{key}", "required")
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        out.problem(f"{path}.{key}", f"expected a non-empty string, got {value!r}")
        return None
    return value.strip()


def _name(out: Sections, value: str | None, path: str, pattern: re.Pattern, what: str) -> bool:
    if value is not None and not pattern.fullmatch(value):
        out.problem(path, f"{value!r} is not a valid {what} (expected {pattern.pattern})")
        return False
    return value is not None


def check_variables(out: Sections, raw: object) -> None:
    table = _table(out, raw, "variables", allowed=None)  # keys are the variable names
    for name, prop in (table or {}).items():
        path = f"variables.{name}"
        if not VARIABLE_NAME.fullmatch(name):
            out.problem(path, f"variable name must match {VARIABLE_NAME.pattern}")
        elif name in RESERVED_VARIABLES:
            out.problem(path, "is set by the connector and cannot be renamed")
        elif not isinstance(prop, str) or not PROPERTY_NAME.fullmatch(prop):
            out.problem(
                path, f"expected a contact property name ({PROPERTY_NAME.pattern}), got {prop!r}"
            )
        else:
            out.variables[name] = prop


def _clock(out: Sections, table: dict, key: str) -> time | None:
    path = f"quiet_hours.{key}"
    if key not in table:
        out.problem(path, "required")
        return None
    value = table[key]
    if isinstance(value, time):  # TOML local time, e.g. `start = 09:00:00`
        return value.replace(tzinfo=None)
    match = CLOCK_TIME.fullmatch(value) if isinstance(value, str) else None
    if not match:
        out.problem(path, f'expected a 24-hour "HH:MM" time, got {value!r}')
        return None
    return time(int(match[1]), int(match[2]))


def _days(out: Sections, table: dict) -> frozenset[int] | None:
    value = table.get("days", list(WEEKDAYS))
    if not isinstance(value, list) or not value:
        out.problem("quiet_hours.days", f"expected a non-empty array of {', '.join(WEEKDAYS)}")
        return None
    days: set[int] = set()
    for index, day in enumerate(value, start=1):
        word = day.strip().lower() if isinstance(day, str) else None
        if word not in WEEKDAYS:
            out.problem(f"quiet_hours.days[{index}]", f"{day!r} is not one of {WEEKDAYS}")
        elif WEEKDAYS.index(word) in days:
            out.problem(f"quiet_hours.days[{index}]", f"{day!r} is listed twice")
        else:
            days.add(WEEKDAYS.index(word))
    return frozenset(days) if len(days) == len(value) else None


def check_quiet_hours(out: Sections, raw: object) -> None:
    table = _table(out, raw, "quiet_hours", QUIET_HOURS_KEYS)
    if table is None:
        return
    start, end, days = _clock(out, table, "start"), _clock(out, table, "end"), _days(out, table)
    if start is not None and start == end:
        out.problem("quiet_hours.end", "must differ from start (the window would be ambiguous)")
    zone_text = _string(out, table, "default_timezone", "quiet_hours")
    zone = iana_name(zone_text)
    if zone_text is not None and zone is None:
        out.problem("quiet_hours.default_timezone", f"{zone_text!r} is not an IANA time zone")
    if None not in (start, end, days, zone) and start != end:
        out.quiet_hours = QuietHours(start=start, end=end, days=days, default_tz=zone)


def _options(out: Sections, entry: dict, path: str, type_: str | None) -> tuple[str, ...]:
    if type_ != "Selector":
        if "options" in entry and type_ is not None:
            out.problem(f"{path}.options", f"only allowed when type is Selector, not {type_}")
        return ()
    options = entry.get("options")
    if not isinstance(options, list) or len(options) < 2:
        out.problem(f"{path}.options", "a Selector needs an array of at least 2 options")
        return ()
    for index, option in enumerate(options, start=1):
        if not isinstance(option, str) or not option.strip() or ";" in option:
            out.problem(
                f"{path}.options[{index}]",
                f"expected a non-empty string without ';', got {option!r}",
            )
    cleaned = tuple(o.strip() for o in options if isinstance(o, str))
    if len(set(cleaned)) != len(cleaned):
        out.problem(f"{path}.options", "options must be unique")
    return cleaned


def _question_type(out: Sections, entry: dict, path: str) -> str | None:
    value = _string(out, entry, "type", path)
    canonical = {t.lower(): t for t in QUESTION_TYPES}.get((value or "").lower())
    if value is not None and canonical is None:
        out.problem(f"{path}.type", f"{value!r} is not one of {', '.join(QUESTION_TYPES)}")
    return canonical


def _question(out: Sections, entry: object, path: str) -> Question | None:
    table = _table(out, entry, path, QUESTION_KEYS)
    if table is None:
        return None
    key = _string(out, table, "key", path)
    key_ok = _name(out, key, f"{path}.key", QUESTION_KEY, "question key")
    if key_ok and key in ACTION_OUTPUT_NAMES:
        out.problem(f"{path}.key", f"{key!r} is a built-in workflow output name")
        key_ok = False
    text = _string(out, table, "question", path)
    type_ = _question_type(out, table, path)
    options = _options(out, table, path, type_)
    prop = _string(out, table, "property", path, required=False)
    prop_ok = prop is None or _name(out, prop, f"{path}.property", PROPERTY_NAME, "property")
    if not (key_ok and text and type_ and prop_ok):
        return None
    question = Question(key=key, question=text, type=type_, options=options, property=prop or "")
    if question.property in CORE_PROPERTY_NAMES:
        out.problem(f"{path}.property", f"{question.property!r} is a built-in property")
        return None
    return question


def check_analysis(out: Sections, raw: object) -> None:
    table = _table(out, raw, "analysis", ("questions",))
    entries = (table or {}).get("questions", [])
    if not isinstance(entries, list):
        out.problem("analysis.questions", "expected an array of tables ([[analysis.questions]])")
        return
    questions: list[Question] = []
    for index, entry in enumerate(entries, start=1):
        path = f"analysis.questions[{index}]"
        question = _question(out, entry, path)
        if question is None:
            continue
        if any(q.key == question.key for q in questions):
            out.problem(f"{path}.key", f"{question.key!r} is used by an earlier question")
        elif any(q.property == question.property for q in questions):
            out.problem(f"{path}.property", f"{question.property!r} is used by an earlier question")
        else:
            questions.append(question)
    out.questions = tuple(questions)


def _trigger_value(value: object) -> str | None:
    """HubSpot sends property values as strings; TOML booleans/integers are accepted too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def _trigger_values(out: Sections, table: dict, path: str) -> frozenset[str] | None:
    if ("equals" in table) == ("in" in table):
        out.problem(path, "needs exactly one of `equals` or `in`")
        return None
    if "equals" in table:
        raw, key = [table["equals"]], "equals"
    else:
        raw, key = table["in"], "in"
        if not isinstance(raw, list) or not raw:
            out.problem(f"{path}.in", "expected a non-empty array of values")
            return None
    values = [_trigger_value(v) for v in raw]
    if None in values:
        out.problem(f"{path}.{key}", "values must be strings, booleans or integers")
        return None
    return frozenset(values)


def check_triggers(out: Sections, raw: object) -> None:
    if not isinstance(raw, list):
        out.problem("triggers", "expected an array of tables ([[triggers]])")
        return
    triggers = []
    for index, entry in enumerate(raw, start=1):
        path = f"triggers[{index}]"
        table = _table(out, entry, path, TRIGGER_KEYS)
        if table is None:
            continue
        prop = _string(out, table, "property", path)
        prop_ok = _name(out, prop, f"{path}.property", PROPERTY_NAME, "property")
        values = _trigger_values(out, table, path)
        agent = _string(out, table, "agent_id", path, required=False)
        if "agent_id" in table and agent is None:
            continue
        if prop_ok and values is not None:
            triggers.append(TriggerRule(property=prop, values=values, agent_id=agent))
    out.triggers = tuple(triggers)


CHECKS = {
    "variables": check_variables,
    "quiet_hours": check_quiet_hours,
    "analysis": check_analysis,
    "triggers": check_triggers,
}


def check_rules(data: dict) -> Sections:
    out = Sections()
    for key in data:
        if key not in CHECKS:
            out.problem(key, f"unknown section (allowed: {', '.join(SECTIONS)})")
    for key, check in CHECKS.items():
        if key in data:
            check(out, data[key])
    return out
