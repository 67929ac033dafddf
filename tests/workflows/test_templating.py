"""Templates: rendering, nested values, missing names, and the sandbox."""

from __future__ import annotations

import pytest

from app.workflows.templating import (
    MAX_OUTPUT_CHARS,
    TemplateError,
    render,
    render_value,
    template_errors,
)

VARS = {
    "client": {
        "name": "Ada",
        "email": "ada@example.com",
        "tags": ["vip", "beta"],
        "custom_fields": {"plan": {"tier": "gold", "seats": 12}},
        "items": "a key named like a dict method",
    },
    "event": {"type": "CLIENT_STATUS_CHANGED", "payload": {"from": "LEAD", "to": "ACTIVE"}},
    "workflow": {"id": "w1", "name": "Onboard", "version": 3},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {{ client.name }}", "Hello Ada"),
        ("{{client.custom_fields.plan.tier}}/{{ client.custom_fields.plan.seats }}", "gold/12"),
        ("{{ event.payload.to }} from {{ event.payload['from'] }}", "ACTIVE from LEAD"),
        ("{{ client.tags[1] }}", "beta"),
        ("{{ client.tags | join(', ') }}", "vip, beta"),
        ("{% for t in client.tags %}{{ loop.index }}:{{ t }} {% endfor %}", "1:vip 2:beta "),
        ("{% if 'vip' in client.tags %}VIP{% else %}std{% endif %}", "VIP"),
        ("{{ client.nickname | default('friend') }}", "friend"),
        ("{{ workflow.name | upper }} v{{ workflow.version }}", "ONBOARD v3"),
        ("{{ client.items }}", "a key named like a dict method"),
        ("no template at all", "no template at all"),
        ("<b>{{ client.name }}</b> & co", "<b>Ada</b> & co"),
    ],
)
def test_render(template, expected):
    assert render(template, VARS) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ client.foo }}", "'client.foo' is undefined"),
        ("{{ client.custom_fields.plan.color }}", "'client.custom_fields.plan.color' is undefined"),
        ("{{ nobody }}", "'nobody' is undefined"),
        ("{{ event.payload.missing.deeper }}", "'event.payload.missing' is undefined"),
    ],
)
def test_unknown_names_are_errors(template, message):
    with pytest.raises(TemplateError) as err:
        render(template, VARS)
    assert message in err.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ client.__class__ }}",
        "{{ client.name.__class__.__base__ }}",
        "{{ client.name.upper() }}",
        "{{ client.keys() }}",
        "{{ client.tags.append }}",
        "{{ client['__init__'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ range(10) }}",
        "{{ self.__init__ }}",
        "{{ 'x' * 1000000000 }}",
        "{{ client.name * 100000000 }}",
        "{{ '%s' | format(1) }}",
        "{{ client.name | center(1000000000) }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    ],
)
def test_sandbox_escapes_are_rejected(template):
    with pytest.raises(TemplateError):
        render(template, VARS)


def test_output_is_bounded():
    big = {"client": {"blob": "x" * (MAX_OUTPUT_CHARS // 2 + 1)}}
    with pytest.raises(TemplateError) as err:
        render("{{ client.blob }}{{ client.blob }}", big)
    assert "exceeds" in err.value.message


def test_render_value_renders_nested_json():
    value = {"who": "{{ client.name }}", "tags": ["{{ client.tags[0] }}", 7], "n": None}
    assert render_value(value, VARS) == {"who": "Ada", "tags": ["vip", 7], "n": None}


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("Hi {{ client.name", "syntax error"),
        ("{% if %}", "syntax error"),
        ("{{ foo.bar }}", "'foo' is undefined"),
        ("{{ ''.__class__ }}", "'__class__' is not allowed"),
        ("{{ client.name.upper() }}", "calling functions is not allowed"),
        ("{{ client.name | center(9) }}", "unknown filter 'center'"),
    ],
)
def test_save_time_check(template, fragment):
    problems = template_errors(template)
    assert any(fragment in p for p in problems), problems


def test_save_time_check_accepts_good_templates():
    assert template_errors("Hi {{ client.name }} ({{ event.payload.to | lower }})") == []


NULLS = {
    "client": {"name": "Ada", "email": None, "tags": ["vip", None], "custom_fields": {"x": None}},
    "event": {"payload": {"reason": {"code": 7, "why": "moved"}, "items": [1, "two", None]}},
    "workflow": {"name": "Onboard"},
}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("To: {{ client.email }}", "'client.email' is null"),
        ("{{ client.custom_fields.x }}", "'client.custom_fields.x' is null"),
        ("{{ client.email | lower }}", "'client.email' is null"),
        ("{{ 'to ' ~ client.email }}", "'client.email' is null"),
        ("{{ client.email.domain }}", "'client.email' is null"),
        ("{{ client.tags[1] }}", "item 1 is null"),
        ("{{ client.tags | join(', ') }}", "a value is null"),
        ("{% for t in client.tags %}{{ t }}{% endfor %}", "a value is null"),
        ("{{ none }}", "a value is null"),
    ],
)
def test_null_values_never_print_as_none(template, message):
    with pytest.raises(TemplateError) as err:
        render(template, NULLS)
    assert message in err.value.message
    assert "None" not in err.value.message


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ client.email | default('no email') }}", "no email"),
        ("{{ client.email | d('-') }}", "-"),
        ("{% if client.email %}yes{% else %}no{% endif %}", "no"),
        ("{{ client.email is none }}/{{ client.email == none }}", "True/True"),
        ("{{ client.email is defined }}", "False"),
        ("{{ client.name | default('x') }}", "Ada"),
        ("{{ client.tags | tojson }}", '["vip", null]'),
    ],
)
def test_null_values_with_a_fallback(template, expected):
    assert render(template, NULLS) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.payload.reason }}", '{"code": 7, "why": "moved"}'),
        ("{{ event.payload.items | tojson }}", '[1, "two", null]'),
        ("{{ client.custom_fields }}", '{"x": null}'),
        (
            "Reason: {{ event.payload }}",
            'Reason: {"reason": {"code": 7, "why": "moved"}, "items": [1, "two", null]}',
        ),
        ("{{ 'r=' ~ event.payload.reason }}", 'r={"code": 7, "why": "moved"}'),
        ("{{ [event.payload.reason, 'x'] | join(';') }}", '{"code": 7, "why": "moved"};x'),
        ("{{ event.payload.reason | string }}", '{"code": 7, "why": "moved"}'),
        ("{{ event.payload.reason | upper }}", '{"CODE": 7, "WHY": "MOVED"}'),
        ("{{ {'a': [1, 2]} }}", '{"a": [1, 2]}'),
        ("{{ ('a', 1) }}", '["a", 1]'),
        ("{{ event.payload.reason | tojson(indent=2) }}", '{\n  "code": 7,\n  "why": "moved"\n}'),
    ],
)
def test_dicts_and_lists_render_as_json(template, expected):
    assert render(template, NULLS) == expected
