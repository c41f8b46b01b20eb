"""Value types of the rules file (see `domain.rules` for the file format).

Kept apart from the loader so `outcomes`, `hubspot_schema` and `action_definition` can
take questions without importing the validator (which imports them).
"""

from __future__ import annotations

from dataclasses import dataclass

# Talkstack's post-call analysis types, capitalised as its API writes them.
QUESTION_TYPES = ("Boolean", "Number", "Selector", "Text")
QUESTION_PROPERTY_PREFIX = "talkstack_"


@dataclass(frozen=True)
class Question:
    """One analysis question: asked of Talkstack, stored in `property`, output as `key`."""

    key: str
    question: str
    type: str
    options: tuple[str, ...] = ()
    property: str = ""

    def __post_init__(self) -> None:
        if not self.property:
            object.__setattr__(self, "property", QUESTION_PROPERTY_PREFIX + self.key)


@dataclass(frozen=True)
class TriggerRule:
    """A `contact.propertyChange` to one of `values` requests a call (with `agent_id`)."""

    property: str
    values: frozenset[str]
    agent_id: str | None = None


class RulesError(Exception):
    """The rules file is unusable; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))
