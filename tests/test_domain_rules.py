from datetime import time
from textwrap import dedent

import pytest

import domain.rules
from domain.quiet_hours import QuietHours
from domain.rules import (
    Question,
    Rules,
    RulesError,
    TriggerRule,
    build_dynamic_variables,
    load_rules,
    parse_rules,
)

FULL_EXAMPLE = dedent(
    """
    [variables]
    first_name = "firstname"
    Company = "company"

    [quiet_hours]
    start = "09:00"
    end = "20:00"
    days = ["mon", "tue", "wed", "thu", "fri"]
    default_timezone = "America/New_York"

    [[analysis.questions]]
    key = "interested"
    question = "Is the contact interested in a demo?"
    type = "Boolean"

    [[analysis.questions]]
    key = "why_not"
    question = "Why not?"
    type = "selector"
    options = ["Price", "Timing", "Other"]
    property = "hs_custom_reason"

    [[triggers]]
    property = "lifecyclestage"
    equals = "salesqualifiedlead"
    agent_id = "agent-sql"

    [[triggers]]
    property = "hs_lead_status"
    in = ["OPEN", "IN_PROGRESS"]

    [[triggers]]
    property = "wants_call"
    equals = true
    """
)


def write(tmp_path, text: str) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems_of(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(dedent(text), source="rules.toml")
    lines = str(caught.value).splitlines()
    assert list(caught.value.problems) == lines
    return lines


@pytest.mark.parametrize("path", [None, "", "  "])
def test_no_file_means_empty_rules(path):
    rules = load_rules(path)
    assert rules == Rules.empty()
    assert rules.variables == {} and rules.quiet_hours is None
    assert rules.questions == () and rules.triggers == ()


def test_full_example_loads(tmp_path):
    rules = load_rules(write(tmp_path, FULL_EXAMPLE))
    assert rules.variables == {"first_name": "firstname", "Company": "company"}
    assert rules.quiet_hours == QuietHours(
        start=time(9), end=time(20), days=frozenset(range(5)), default_tz="America/New_York"
    )
    assert rules.questions == (
        Question(
            "interested",
            "Is the contact interested in a demo?",
            "Boolean",
            (),
            "talkstack_interested",
        ),
        Question(
            "why_not", "Why not?", "Selector", ("Price", "Timing", "Other"), "hs_custom_reason"
        ),
    )
    assert rules.triggers == (
        TriggerRule("lifecyclestage", frozenset({"salesqualifiedlead"}), "agent-sql"),
        TriggerRule("hs_lead_status", frozenset({"OPEN", "IN_PROGRESS"}), None),
        TriggerRule("wants_call", frozenset({"true"}), None),
    )
    assert rules.contact_properties == ("firstname", "company")


def test_documented_example_is_valid():
    example = dedent(domain.rules.__doc__.split("::", 1)[1])
    rules = parse_rules(example)
    assert rules.variables == {"first_name": "firstname"}
    assert rules.questions[0].property == "talkstack_interested"
    assert rules.triggers[0].agent_id == "optional-agent"
    assert rules.quiet_hours.days == frozenset(range(5))


def test_rules_are_frozen(tmp_path):
    rules = load_rules(write(tmp_path, FULL_EXAMPLE))
    with pytest.raises(AttributeError):
        rules.questions = ()


def test_matches_property_change(tmp_path):
    rules = load_rules(write(tmp_path, FULL_EXAMPLE))
    assert rules.matches_property_change("lifecyclestage", "salesqualifiedlead").agent_id == (
        "agent-sql"
    )
    assert rules.matches_property_change("hs_lead_status", "IN_PROGRESS").property == (
        "hs_lead_status"
    )
    assert rules.matches_property_change("wants_call", "true") is not None
    assert rules.matches_property_change("lifecyclestage", "lead") is None
    assert rules.matches_property_change("lifecyclestage", None) is None
    assert rules.matches_property_change("hs_lead_status", "open") is None  # exact values
    assert rules.matches_property_change("other", "salesqualifiedlead") is None


def test_missing_file_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(RulesError) as caught:
        load_rules(missing)
    assert str(caught.value) == f"{missing}: cannot read the rules file: No such file or directory"


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[variables]\nfirst_name = \n")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid TOML:")
    assert "line 2" in message


def test_every_mistake_is_reported_at_once(tmp_path):
    text = """
        colour = "blue"
        [variables]
        "first name" = "firstname"
        hubspot_contact_id = "hs_object_id"
        [quiet_hours]
        start = "9am"
        end = "25:00"
        days = ["mon", "funday", "mon"]
        [[analysis.questions]]
        key = "Interested"
        question = ""
        type = "Maybe"
        [[triggers]]
        equals = "x"
        in = ["y"]
        """
    path = write(tmp_path, dedent(text))
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    lines = str(caught.value).splitlines()
    expected = [
        "colour: unknown section (allowed: variables, quiet_hours, analysis, triggers)",
        "variables.first name: variable name must match [A-Za-z_][A-Za-z0-9_]*",
        "variables.hubspot_contact_id: is set by the connector and cannot be renamed",
        "quiet_hours.start: expected a 24-hour \"HH:MM\" time, got '9am'",
        "quiet_hours.end: expected a 24-hour \"HH:MM\" time, got '25:00'",
        "quiet_hours.days[2]: 'funday' is not one of",
        "quiet_hours.days[3]: 'mon' is listed twice",
        "quiet_hours.default_timezone: required",
        "analysis.questions[1].key: 'Interested' is not a valid question key",
        "analysis.questions[1].question: expected a non-empty string, got ''",
        "analysis.questions[1].type: 'Maybe' is not one of Boolean, Number, Selector, Text",
        "triggers[1].property: required",
        "triggers[1]: needs exactly one of `equals` or `in`",
    ]
    assert len(lines) == len(expected), lines
    for line, wanted in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}: {wanted}"), (line, wanted)


QH = '[quiet_hours]\nstart = "09:00"\nend = "17:00"\n'
QA = '[[analysis.questions]]\nkey = "a"\nquestion = "q"\n'  # a question, type still to add
QB = '[[analysis.questions]]\nkey = "b"\nquestion = "q2"\ntype = "Text"\n'
TR = '[[triggers]]\nproperty = "p"\n'
MISTAKES = [
    ("variables = 3", "variables: expected a table, got an integer"),
    ('[variables]\nx = "First Name"', "variables.x: expected a contact property name"),
    ("[variables]\nx = 1", "variables.x: expected a contact property name"),
    ('[quiet_hours]\nstart = "09:00"\nend = "09:00"\ndefault_timezone = "UTC"',
     "quiet_hours.end: must differ from start"),
    (QH + 'default_timezone = "Mars/Base"',
     "quiet_hours.default_timezone: 'Mars/Base' is not an IANA time zone"),
    (QH + 'days = []\ndefault_timezone = "UTC"', "quiet_hours.days: expected a non-empty array"),
    (QH + 'default_timezone = "UTC"\nfoo = 1',
     "quiet_hours.foo: unknown key (allowed: start, end, days, default_timezone)"),
    ('[quiet_hours]\nend = "17:00"\ndefault_timezone = "UTC"', "quiet_hours.start: required"),
    ("[analysis]\nquestions = 3", "analysis.questions: expected an array of tables"),
    ("[analysis]\nother = 3", "analysis.other: unknown key (allowed: questions)"),
    (QA + 'type = "Selector"',
     "analysis.questions[1].options: a Selector needs an array of at least 2 options"),
    (QA + 'type = "Selector"\noptions = ["x"]',
     "analysis.questions[1].options: a Selector needs an array of at least 2 options"),
    (QA + 'type = "Selector"\noptions = ["x", "x"]',
     "analysis.questions[1].options: options must be unique"),
    (QA + 'type = "Selector"\noptions = ["x", "y;z"]',
     "analysis.questions[1].options[2]: expected a non-empty string without ';'"),
    (QA + 'type = "Text"\noptions = ["x", "y"]',
     "analysis.questions[1].options: only allowed when type is Selector, not Text"),
    ('[[analysis.questions]]\nkey = "attempts"\nquestion = "q"\ntype = "Number"',
     "analysis.questions[1].key: 'attempts' is a built-in workflow output name"),
    (QA + 'type = "Text"\nproperty = "talkstack_do_not_call"',
     "analysis.questions[1].property: 'talkstack_do_not_call' is a built-in property"),
    ('[[analysis.questions]]\nkey = "last_call_status"\nquestion = "q"\ntype = "Text"',
     "analysis.questions[1].property: 'talkstack_last_call_status' is a built-in property"),
    (QA + 'type = "Text"\nproperty = "Bad-Name"',
     "analysis.questions[1].property: 'Bad-Name' is not a valid property"),
    (QA + 'type = "Text"\nextra = 1', "analysis.questions[1].extra: unknown key"),
    ('[[analysis.questions]]\nquestion = "q"\ntype = "Text"',
     "analysis.questions[1].key: required"),
    (QA + 'type = "Text"\n' + QB.replace('"b"', '"a"'),
     "analysis.questions[2].key: 'a' is used by an earlier question"),
    (QA + 'type = "Text"\n' + QB + 'property = "talkstack_a"',
     "analysis.questions[2].property: 'talkstack_a' is used by an earlier question"),
    ('triggers = "x"', "triggers: expected an array of tables"),
    (TR + "in = []", "triggers[1].in: expected a non-empty array"),
    (TR + "equals = 1.5", "triggers[1].equals: values must be strings, booleans or integers"),
    (TR + 'equals = "x"\nagent_id = ""', "triggers[1].agent_id: expected a non-empty string"),
    (TR + 'equals = "x"\nagent = "a"',
     "triggers[1].agent: unknown key (allowed: property, equals, in, agent_id)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), MISTAKES)
def test_each_mistake_names_its_key_path(text, expected):
    lines = problems_of(text)
    assert any(line.startswith(f"rules.toml: {expected}") for line in lines), lines


def test_question_type_is_case_insensitive_but_stored_canonically():
    rules = parse_rules(
        '[[analysis.questions]]\nkey = "n"\nquestion = "How many?"\ntype = "NUMBER"'
    )
    assert rules.questions[0].type == "Number"
    assert rules.questions[0].property == "talkstack_n"


def test_quiet_hours_accept_toml_times_and_default_to_every_day():
    rules = parse_rules(
        '[quiet_hours]\nstart = 08:30:00\nend = 17:15:00\ndefault_timezone = "europe_slash_london"'
    )
    assert rules.quiet_hours == QuietHours(
        start=time(8, 30), end=time(17, 15), days=frozenset(range(7)), default_tz="Europe/London"
    )


def test_night_window_is_allowed():
    rules = parse_rules(
        '[quiet_hours]\nstart = "22:00"\nend = "02:00"\ndays = ["Fri"]\ndefault_timezone = "UTC"'
    )
    assert rules.quiet_hours.start == time(22) and rules.quiet_hours.days == frozenset({4})


def test_build_dynamic_variables():
    properties = {"firstname": "Ada", "company": None, "lastname": "Lovelace", "age": 36}
    variables = build_dynamic_variables(
        "901",
        properties,
        ["firstname", "company", "phone", " lastname "],
        {"name": "firstname", "years": "age"},
    )
    assert variables == {
        "firstname": "Ada",
        "company": "",
        "phone": "",
        "lastname": "Lovelace",
        "name": "Ada",
        "years": "36",
        "hubspot_contact_id": "901",
    }


def test_contact_id_variable_always_wins():
    variables = build_dynamic_variables(
        "7", {"hubspot_contact_id": "spoofed"}, ["hubspot_contact_id"], {}
    )
    assert variables == {"hubspot_contact_id": "7"}
