"""Action definitions: every type's config validated with JSON paths, round-trip, rendering."""

from __future__ import annotations

import pytest

from app.core.errors import UnprocessableError
from app.workflows.definition import (
    CreateTaskStep,
    DelayStep,
    SendEmailStep,
    WebhookStep,
    action_type,
    dump_actions,
    load_actions,
    parse_actions,
    render_config,
    validate_actions,
)

VALID = [
    {"type": "SEND_EMAIL", "config": {"to": "{{ client.email }}", "subject": "Hi", "body": "B"}},
    {
        "type": "CREATE_TASK",
        "config": {
            "title": "Call {{ client.name }}",
            "priority": "HIGH",
            "due_in": {"days": 1, "hours": 2},
            "assignee": "owner",
        },
        "retry": {"max_attempts": 5, "backoff_s": 2, "max_backoff_s": 30},
        "on_error": "continue",
    },
    {
        "type": "CREATE_TASK",
        "config": {"title": "T", "assignee": "0b9f3c1e-8f1e-4a53-9a38-2f0f3c1d2e4a"},
    },
    {
        "type": "UPDATE_CLIENT",
        "config": {"status": "ACTIVE", "custom_fields": {"src": "{{ event.type }}"}},
    },
    {"type": "ADD_TAG", "config": {"tag": "vip"}},
    {"type": "REMOVE_TAG", "config": {"tag": "lead-{{ event.payload.from | lower }}"}},
    {"type": "ADD_NOTE", "config": {"body": "Status is now {{ event.payload.to }}"}},
    {
        "type": "WEBHOOK",
        "config": {
            "url": "https://hooks.example.com/{{ client.id }}",
            "method": "PUT",
            "headers": {"X-Name": "{{ client.name }}"},
            "body": {"client": "{{ client.name }}", "n": 1},
            "timeout_s": 5,
        },
    },
    {"type": "WEBHOOK", "config": {"url": "https://x.example", "body": "plain {{ client.name }}"}},
    {"type": "DELAY", "config": {"duration": {"hours": 1, "seconds": 30}}},
    {"type": "DELAY", "config": {"until": "2030-01-01T00:00:00+00:00"}},
]


def test_every_action_type_parses_and_round_trips():
    actions = parse_actions(VALID)
    assert [action_type(a) for a in actions] == [a["type"] for a in VALID]
    assert isinstance(actions[0], SendEmailStep)
    assert isinstance(actions[1], CreateTaskStep)
    assert actions[1].retry.max_attempts == 5
    assert actions[1].on_error == "continue"
    assert actions[1].config.due_in is not None
    assert actions[1].config.due_in.total_seconds() == 26 * 3600
    assert actions[0].retry.max_attempts == 3  # the default policy
    assert actions[0].on_error == "stop"
    assert isinstance(actions[9], DelayStep)
    assert actions[9].config.duration is not None
    assert actions[9].config.duration.total_seconds() == 3630
    stored = dump_actions(actions)
    assert load_actions(stored) == actions
    assert parse_actions(stored) == actions


def test_render_config_renders_templates_only():
    actions = parse_actions(VALID)
    variables = {
        "client": {"id": "c1", "name": "Ada", "email": "ada@example.com"},
        "event": {"type": "CLIENT_STATUS_CHANGED", "payload": {"from": "LEAD", "to": "ACTIVE"}},
        "workflow": {},
    }
    assert render_config(actions[0], variables)["to"] == "ada@example.com"
    hook = render_config(actions[7], variables)
    assert hook["url"] == "https://hooks.example.com/c1"
    assert hook["headers"] == {"X-Name": "Ada"}
    assert hook["body"] == {"client": "Ada", "n": 1}
    assert render_config(actions[5], variables)["tag"] == "lead-lead"
    assert render_config(actions[3], variables)["custom_fields"] == {"src": "CLIENT_STATUS_CHANGED"}
    assert isinstance(actions[7], WebhookStep)


@pytest.mark.parametrize(
    ("action", "path", "fragment"),
    [
        (
            {"type": "SEND_EMAIL", "config": {"to": "a@b.c", "subject": "S"}},
            "$.actions[0].config.body",
            "required",
        ),
        (
            {
                "type": "SEND_EMAIL",
                "config": {"to": "a@b.c", "subject": "Hi {{ client.name", "body": "b"},
            },
            "$.actions[0].config.subject",
            "syntax error",
        ),
        (
            {
                "type": "SEND_EMAIL",
                "config": {"to": "{{ user.email }}", "subject": "s", "body": "b"},
            },
            "$.actions[0].config.to",
            "'user' is undefined",
        ),
        (
            {
                "type": "SEND_EMAIL",
                "config": {"to": "x@y.test", "subject": "s", "body": "{{ ''.__class__ }}"},
            },
            "$.actions[0].config.body",
            "not allowed",
        ),
        (
            {
                "type": "SEND_EMAIL",
                "config": {"to": "x@y.test", "subject": "s", "body": "b", "cc": "y"},
            },
            "$.actions[0].config.cc",
            "not a known field",
        ),
        (
            {"type": "SEND_EMAIL", "config": {"to": 5, "subject": "s", "body": "b"}},
            "$.actions[0].config.to",
            "Expected `str`",
        ),
        (
            {"type": "CREATE_TASK", "config": {"title": "t", "priority": "SOON"}},
            "$.actions[0].config.priority",
            "Invalid enum value",
        ),
        (
            {"type": "CREATE_TASK", "config": {"title": "t", "assignee": "bob"}},
            "$.actions[0].config.assignee",
            "owner",
        ),
        (
            {"type": "CREATE_TASK", "config": {"title": "t", "due_in": {"weeks": 1}}},
            "$.actions[0].config.due_in.weeks",
            "not a known field",
        ),
        (
            {"type": "CREATE_TASK", "config": {"title": "t", "due_in": {"days": -1}}},
            "$.actions[0].config.due_in.days",
            ">= 0",
        ),
        (
            {"type": "CREATE_TASK", "config": {"title": "{% for %}"}},
            "$.actions[0].config.title",
            "syntax error",
        ),
        ({"type": "UPDATE_CLIENT", "config": {}}, "$.actions[0].config", "at least one"),
        (
            {"type": "UPDATE_CLIENT", "config": {"status": "WON"}},
            "$.actions[0].config.status",
            "Invalid enum value",
        ),
        (
            {"type": "UPDATE_CLIENT", "config": {"custom_fields": {"a": ["{{ bad"]}}},
            "$.actions[0].config.custom_fields.a[0]",
            "syntax error",
        ),
        ({"type": "ADD_TAG", "config": {}}, "$.actions[0].config.tag", "required"),
        ({"type": "REMOVE_TAG", "config": {"tag": ""}}, "$.actions[0].config.tag", "length >= 1"),
        (
            {"type": "ADD_NOTE", "config": {"body": "{{ client.name }"}},
            "$.actions[0].config.body",
            "syntax error",
        ),
        ({"type": "WEBHOOK", "config": {"url": "ftp://x"}}, "$.actions[0].config.url", "http"),
        (
            {"type": "WEBHOOK", "config": {"url": "https://x", "method": "TRACE"}},
            "$.actions[0].config.method",
            "Invalid enum value",
        ),
        (
            {"type": "WEBHOOK", "config": {"url": "https://x", "timeout_s": 0}},
            "$.actions[0].config.timeout_s",
            "> 0",
        ),
        (
            {"type": "WEBHOOK", "config": {"url": "https://x", "headers": {"X": "{{ nope }}"}}},
            "$.actions[0].config.headers.X",
            "'nope' is undefined",
        ),
        (
            {"type": "WEBHOOK", "config": {"url": "https://x", "body": {"a": {"b": "{% if %}"}}}},
            "$.actions[0].config.body.a.b",
            "syntax error",
        ),
        ({"type": "DELAY", "config": {}}, "$.actions[0].config", "exactly one"),
        (
            {"type": "DELAY", "config": {"until": "tomorrow"}},
            "$.actions[0].config.until",
            "ISO-8601",
        ),
        (
            {"type": "DELAY", "config": {"until": "2030-01-01T00:00:00"}},
            "$.actions[0].config.until",
            "offset",
        ),
        (
            {"type": "DELAY", "config": {"until": "{{ event.payload.when"}},
            "$.actions[0].config.until",
            "syntax",
        ),
        (
            {"type": "DELAY", "config": {"duration": {"minutes": 0}}},
            "$.actions[0].config.duration",
            "longer than zero",
        ),
        (
            {"type": "DELAY", "config": {"duration": {"fortnights": 1}}},
            "$.actions[0].config.duration.fortnights",
            "not a known field",
        ),
        ({"type": "TELEPORT", "config": {}}, "$.actions[0].type", "must be one of"),
        ({"config": {}}, "$.actions[0].type", "must be one of"),
        ({"type": "ADD_TAG"}, "$.actions[0].config", "required"),
        (
            {"type": "ADD_TAG", "config": {"tag": "x"}, "retry": {"max_attempts": 0}},
            "$.actions[0].retry.max_attempts",
            ">= 1",
        ),
        (
            {"type": "ADD_TAG", "config": {"tag": "x"}, "on_error": "ignore"},
            "$.actions[0].on_error",
            "stop",
        ),
        (
            {"type": "ADD_TAG", "config": {"tag": "x"}, "when": 1},
            "$.actions[0].when",
            "not a known field",
        ),
        ("ADD_TAG", "$.actions[0]", "must be an object"),
    ],
)
def test_invalid_action_reports_path(action, path, fragment):
    _, errors = validate_actions([action])
    by_path = {e["path"]: e["message"] for e in errors}
    assert path in by_path, by_path
    assert fragment in by_path[path]


def test_errors_across_actions_are_all_reported():
    raw = [
        VALID[0],
        {"type": "ADD_TAG", "config": {}},
        {"type": "SEND_EMAIL", "config": {"to": "x@y.test", "subject": "{{ oops", "body": "b"}},
        {
            "type": "CREATE_TASK",
            "config": {"title": "t"},
            "retry": {"backoff_s": -1},
            "on_error": "x",
        },
    ]
    with pytest.raises(UnprocessableError) as err:
        parse_actions(raw)
    assert {e["path"] for e in err.value.errors} == {
        "$.actions[1].config.tag",
        "$.actions[2].config.subject",
        "$.actions[3].retry.backoff_s",
        "$.actions[3].on_error",
    }


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [([], "at least one"), ({}, "must be a list"), ([VALID[4]] * 51, "at most")],
)
def test_action_list_shape(raw, fragment):
    _, errors = validate_actions(raw)
    assert errors[0]["path"] == "$.actions"
    assert fragment in errors[0]["message"]
