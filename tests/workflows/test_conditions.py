"""Conditions: every operator true and false, groups, and save-time validation with paths."""

from __future__ import annotations

import pytest

from app.workflows.conditions import (
    MAX_MATCH_INPUT_CHARS,
    MAX_PATTERN_CHARS,
    OPERATORS,
    evaluate,
    normalize_conditions,
    validate_conditions,
)

VARS = {
    "client": {
        "name": "Ada Lovelace",
        "email": "ada@analytical.org",
        "status": "ACTIVE",
        "tags": ["vip", "beta"],
        "custom_fields": {"seats": 12, "plan": {"tier": "gold"}, "flag": True, "none": None},
    },
    "event": {"type": "CLIENT_CREATED", "payload": {"to": "ACTIVE", "amount": 99.5}, "depth": 0},
    "workflow": {"name": "Onboard", "version": 2},
}


def leaf(field, operator, *value):
    node = {"field": field, "operator": operator}
    if value:
        node["value"] = value[0]
    return node


# (operator, a condition that holds, one that does not)
CASES = [
    ("eq", leaf("client.status", "eq", "ACTIVE"), leaf("client.status", "eq", "LEAD")),
    ("ne", leaf("client.status", "ne", "LEAD"), leaf("client.status", "ne", "ACTIVE")),
    (
        "gt",
        leaf("client.custom_fields.seats", "gt", 10),
        leaf("client.custom_fields.seats", "gt", 12),
    ),
    (
        "gte",
        leaf("client.custom_fields.seats", "gte", 12),
        leaf("client.custom_fields.seats", "gte", 13),
    ),
    ("lt", leaf("event.payload.amount", "lt", 100), leaf("event.payload.amount", "lt", 99.5)),
    ("lte", leaf("event.payload.amount", "lte", 99.5), leaf("event.payload.amount", "lte", 99)),
    (
        "in",
        leaf("client.status", "in", ["ACTIVE", "LEAD"]),
        leaf("client.status", "in", ["CHURNED"]),
    ),
    (
        "not_in",
        leaf("client.status", "not_in", ["CHURNED"]),
        leaf("client.status", "not_in", ["ACTIVE"]),
    ),
    ("contains", leaf("client.tags", "contains", "vip"), leaf("client.tags", "contains", "gold")),
    (
        "not_contains",
        leaf("client.tags", "not_contains", "gold"),
        leaf("client.tags", "not_contains", "vip"),
    ),
    (
        "starts_with",
        leaf("client.name", "starts_with", "Ada"),
        leaf("client.name", "starts_with", "Love"),
    ),
    (
        "ends_with",
        leaf("client.email", "ends_with", ".org"),
        leaf("client.email", "ends_with", ".com"),
    ),
    (
        "exists",
        leaf("client.custom_fields.plan.tier", "exists"),
        leaf("client.custom_fields.none", "exists"),
    ),
    (
        "not_exists",
        leaf("client.custom_fields.missing", "not_exists"),
        leaf("client.email", "not_exists"),
    ),
    (
        "matches",
        leaf("client.email", "matches", r"^[a-z]+@analytical\.(org|com)$"),
        leaf("client.email", "matches", r"^bob@"),
    ),
]


def test_every_operator_is_covered():
    assert sorted(c[0] for c in CASES) == sorted(OPERATORS)


@pytest.mark.parametrize(("op", "true_case", "false_case"), CASES, ids=[c[0] for c in CASES])
def test_operator(op, true_case, false_case):
    assert validate_conditions(true_case) == []
    assert validate_conditions(false_case) == []
    assert evaluate(normalize_conditions(true_case), VARS) is True
    assert evaluate(normalize_conditions(false_case), VARS) is False


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("client.custom_fields.flag", "eq", 1), False),  # a boolean is not the number 1
        (leaf("client.custom_fields.flag", "eq", True), True),
        (leaf("client.name", "gt", 5), False),  # string vs number never compares
        (leaf("client.name", "contains", "Love"), True),
        (leaf("client.custom_fields", "contains", "plan"), True),
        (leaf("client.missing", "contains", "x"), False),
        (leaf("client.missing", "eq", None), True),
        (leaf("client.tags", "in", ["beta"]), True),  # any tag among the values
        (leaf("client.tags.0", "eq", "vip"), True),
        (leaf("client.custom_fields.seats", "matches", r"^1\d$"), True),
        (leaf("event.depth", "lte", 0), True),
        (leaf("workflow.version", "gte", 2), True),
    ],
)
def test_edge_semantics(condition, expected):
    assert evaluate(normalize_conditions(condition), VARS) is expected


def test_groups():
    yes, no = leaf("client.status", "eq", "ACTIVE"), leaf("client.status", "eq", "LEAD")
    assert evaluate({"all": [yes, yes]}, VARS) is True
    assert evaluate({"all": [yes, no]}, VARS) is False
    assert evaluate({"any": [no, yes]}, VARS) is True
    assert evaluate({"any": [no, no]}, VARS) is False
    assert evaluate({"not": no}, VARS) is True
    assert evaluate({"not": {"all": [yes, no]}}, VARS) is True
    assert evaluate({"all": [yes, {"any": [no, {"not": no}]}]}, VARS) is True
    assert evaluate(None, VARS) is True


def test_bare_leaf_is_a_one_leaf_all():
    single = leaf("client.tags", "contains", "vip")
    assert normalize_conditions(single) == {"all": [single]}
    assert normalize_conditions(None) is None
    assert normalize_conditions({}) is None


def test_regex_input_is_bounded_and_linear():
    # A pattern that backtracks catastrophically in Python's re runs in linear time in RE2.
    variables = {"client": {"name": "a" * (MAX_MATCH_INPUT_CHARS - 1) + "!"}}
    condition = {"all": [leaf("client.name", "matches", r"^(a+)+$")]}
    assert validate_conditions(condition) == []
    assert evaluate(condition, variables) is False
    variables["client"]["name"] = "a" * MAX_MATCH_INPUT_CHARS
    assert evaluate(condition, variables) is True
    # Values past the input cap never match, whatever the pattern.
    variables["client"]["name"] = "a" * (MAX_MATCH_INPUT_CHARS + 1)
    assert evaluate({"all": [leaf("client.name", "matches", ".*")]}, variables) is False


@pytest.mark.parametrize(
    ("conditions", "path", "fragment"),
    [
        (
            {"all": [leaf("client.status", "eq", "A"), leaf("client.status", "equals", "A")]},
            "$.conditions.all[1].operator",
            "must be one of",
        ),
        (
            {"all": [{"field": "client.status", "value": 1}]},
            "$.conditions.all[0].operator",
            "required",
        ),
        ({"any": [leaf("client.status", "eq")]}, "$.conditions.any[0].value", "required"),
        (leaf("status", "eq", "A"), "$.conditions.field", "client., event. or workflow."),
        (leaf("client..status", "eq", "A"), "$.conditions.field", "dotted path"),
        (leaf("user.name", "eq", "A"), "$.conditions.field", "client., event. or workflow."),
        (
            {"not": leaf("client.name", "matches", "(unclosed")},
            "$.conditions.not.value",
            "not a valid regular expression",
        ),
        (
            leaf("client.name", "matches", "a" * (MAX_PATTERN_CHARS + 1)),
            "$.conditions.value",
            "at most",
        ),
        (leaf("client.tags", "in", "vip"), "$.conditions.value", "must be a list"),
        (leaf("client.name", "gt", True), "$.conditions.value", "number or a string"),
        (leaf("client.name", "starts_with", 3), "$.conditions.value", "must be a string"),
        (leaf("client.email", "exists", "x"), "$.conditions.value", "not used"),
        ({"all": []}, "$.conditions.all", "at least one"),
        ({"all": "x"}, "$.conditions.all", "must be a list"),
        ({"all": [leaf("client.a", "eq", 1)], "any": []}, "$.conditions.any", "cannot sit beside"),
        ({"all": [3]}, "$.conditions.all[0]", "must be an object"),
        (
            {"all": [{**leaf("client.a", "eq", 1), "extra": 1}]},
            "$.conditions.all[0].extra",
            "not a known field",
        ),
    ],
)
def test_invalid_conditions_report_their_path(conditions, path, fragment):
    errors = {e["path"]: e["message"] for e in validate_conditions(conditions)}
    assert path in errors, errors
    assert fragment in errors[path]


def test_all_errors_are_reported_at_once():
    errors = validate_conditions(
        {
            "all": [
                leaf("client.name", "bogus", 1),
                {"any": [leaf("nope", "eq", 1)]},
                leaf("client.tags", "in", 3),
            ]
        }
    )
    assert {e["path"] for e in errors} == {
        "$.conditions.all[0].operator",
        "$.conditions.all[1].any[0].field",
        "$.conditions.all[2].value",
    }
