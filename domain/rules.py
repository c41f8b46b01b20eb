"""Optional rules file (`CONNECTOR_CONFIG`, TOML) for richer calling rules.

Every section is optional; unknown keys are mistakes. All mistakes are reported together,
one line each, prefixed with the file and the key path (array entries count from 1)::

    [variables]                 # dynamic variable name = contact property to read
    first_name = "firstname"    # (hubspot_contact_id is always set and cannot be renamed)

    [quiet_hours]               # calls only inside this window, in the contact's time zone
    start = "09:00"             # 24-hour "HH:MM" (or a TOML time); required
    end = "20:00"               # exclusive; earlier than start = the window ends next day
    days = ["mon", "tue", "wed", "thu", "fri"]   # optional, default every day
    default_timezone = "America/New_York"        # required; used when hs_timezone is unknown

    [[analysis.questions]]      # each: a typed contact property + a workflow-action output
    key = "interested"          # [a-z][a-z0-9_]*, unique, not a built-in output name
    question = "Is the contact interested in a demo?"
    type = "Boolean"            # Boolean | Number | Selector | Text
    # options = ["a", "b"]      # Selector only (≥ 2, unique, no ';'); forbidden otherwise
    property = "talkstack_interested"   # optional; default talkstack_<key>

    [[triggers]]                # contact.propertyChange events that request a call
    property = "lifecyclestage"
    equals = "salesqualifiedlead"       # or: in = ["a", "b"]; booleans/integers allowed
    agent_id = "optional-agent"         # optional; default TALKSTACK_AGENT_ID
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.quiet_hours import QuietHours
from domain.rules_model import QUESTION_TYPES, Question, RulesError, TriggerRule
from domain.rules_validate import check_rules

__all__ = [
    "QUESTION_TYPES",
    "Question",
    "Rules",
    "RulesError",
    "TriggerRule",
    "build_dynamic_variables",
    "load_rules",
    "parse_rules",
]

CONTACT_ID_VARIABLE = "hubspot_contact_id"


@dataclass(frozen=True)
class Rules:
    variables: dict[str, str] = field(default_factory=dict)  # variable name → property
    quiet_hours: QuietHours | None = None
    questions: tuple[Question, ...] = ()
    triggers: tuple[TriggerRule, ...] = ()

    @classmethod
    def empty(cls) -> Rules:
        return cls()

    def matches_property_change(self, name: str, value: object) -> TriggerRule | None:
        """The first trigger rule that this `contact.propertyChange` satisfies, if any."""
        if value is None:
            return None
        for rule in self.triggers:
            if rule.property == name and str(value) in rule.values:
                return rule
        return None

    @property
    def contact_properties(self) -> tuple[str, ...]:
        """Contact properties the rules read (renamed variables), in file order."""
        return tuple(dict.fromkeys(self.variables.values()))


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Rules from TOML text; raises RulesError listing every mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"{source}: not valid TOML: {exc}"]) from None
    sections = check_rules(data)
    if sections.problems:
        raise RulesError([f"{source}: {problem}" for problem in sections.problems])
    return Rules(
        variables=sections.variables,
        quiet_hours=sections.quiet_hours,
        questions=sections.questions,
        triggers=sections.triggers,
    )


def load_rules(path: str | None) -> Rules:
    """Rules from the file at `path` (`CONNECTOR_CONFIG`); empty rules when None/blank."""
    if not path or not path.strip():
        return Rules.empty()
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RulesError([f"{path}: cannot read the rules file: {reason}"]) from None
    return parse_rules(text, source=path)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def build_dynamic_variables(
    contact_id: str,
    properties: Mapping[str, object],
    call_variables: Iterable[str],
    renames: Mapping[str, str],
) -> dict[str, str]:
    """Talkstack `dynamicVariables`: each CALL_VARIABLES property under its own name,
    each rename (variable → property), and `hubspot_contact_id` (which always wins)."""
    names = [name.strip() for name in call_variables if name and name.strip()]
    variables = {name: _text(properties.get(name)) for name in names}
    variables.update({var: _text(properties.get(prop)) for var, prop in renames.items()})
    variables[CONTACT_ID_VARIABLE] = str(contact_id)
    return variables
