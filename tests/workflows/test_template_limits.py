"""Template bombs: each fails with an error naming the limit, within the operation budget,
without the process growing by more than RSS_BUDGET_MB."""

from __future__ import annotations

import gc

import pytest

from app.workflows.templating import (
    MAX_FORMAT_WIDTH,
    MAX_OPERATIONS,
    MAX_VALUE_CHARS,
    LimitError,
    TemplateError,
    render,
    template_errors,
)

# How much the process may grow while rendering every bomb below (the issue saw +763 MB).
RSS_BUDGET_MB = 50

VARS = {
    "client": {"name": "Ada", "company": "x" * 1_000, "tags": ["vip"], "custom_fields": {"a": 1}},
    "event": {"payload": {"items": list(range(5_000))}},
    "workflow": {"name": "Onboard"},
}
LONG = "y" * 6_000

BOMBS = [
    pytest.param("{{ (9**64**64**64**64) > 1 }}", "MAX_INT_BITS", id="chained-powers"),
    pytest.param("{{ 10 ** 100000 }}", "MAX_INT_BITS", id="big-power"),
    pytest.param("{% set n = 2 ** 4000 %}{{ n * n * n }}", "MAX_INT_BITS", id="int-product"),
    pytest.param("{{ '%200000000s' % 'x' }}", "MAX_FORMAT_WIDTH", id="format-width"),
    pytest.param("{{ '%.200000000f' % 1.5 }}", "MAX_FORMAT_WIDTH", id="format-precision"),
    pytest.param("{{ '%*s' % (200000000, 'x') }}", "MAX_FORMAT_WIDTH", id="format-star"),
    pytest.param(
        "{{ ('%999s' * 200) % ((client.name,) * 200) }}", "MAX_VALUE_CHARS", id="format-many"
    ),
    pytest.param("{{ client | tojson(indent=10000000) }}", "MAX_JSON_INDENT", id="tojson-indent"),
    pytest.param(
        "{% set x = client.company %}" + "{% set x = x ~ x %}" * 40 + "{{ x | length }}",
        "MAX_VALUE_CHARS",
        id="self-doubling-concat",
    ),
    pytest.param(
        "{% set x = client.company %}" + "{% set x = x + x %}" * 40 + "{{ x | length }}",
        "MAX_VALUE_CHARS",
        id="self-doubling-plus",
    ),
    pytest.param("{{ 'x' * 200000000 }}", "MAX_VALUE_CHARS", id="string-repeat"),
    pytest.param("{{ [1, 2] * 200000000 }}", "MAX_ITEMS", id="list-repeat"),
    pytest.param(
        f"{{% for a in '{LONG}' %}}{{% for b in '{LONG}' %}}{{% for c in '{LONG}' %}}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "MAX_OPERATIONS",
        id="nested-loops-over-literals",
    ),
    pytest.param(
        "{% for a in event.payload['items'] %}{% for b in event.payload['items'] %}"
        "{{ a }}{% endfor %}{% endfor %}",
        "MAX_OPERATIONS",
        id="nested-loops-over-data",
    ),
    pytest.param(
        "{% set a = client.company * 99 %}{% set b = client.company * 98 ~ 'y' %}"
        f"{{% for i in '{LONG}' %}}{{{{ a == b }}}}{{{{ a in b }}}}{{% endfor %}}",
        "MAX_OPERATIONS",
        id="big-comparisons-in-a-loop",
    ),
    pytest.param(
        "{{ client.name | replace('', client.company) | replace('', client.company) }}",
        "MAX_VALUE_CHARS",
        id="replace-growth",
    ),
    pytest.param(
        "{% set s = client.company * 90 %}{% set l = [s, s, s, s, s, s, s, s, s, s] %}"
        "{% set m = [l, l, l, l, l, l, l, l, l, l] %}{{ m }}",
        "MAX_VALUE_CHARS",
        id="shared-references-printed-as-json",
    ),
    pytest.param(
        "{% set s = client.company * 90 %}{{ [s, s, s, s, s] | join }}",
        "MAX_VALUE_CHARS",
        id="join-growth",
    ),
    pytest.param(
        "{% set s = client.company * 90 %}{{ [s, s, s, s, s] | tojson }}",
        "MAX_VALUE_CHARS",
        id="tojson-growth",
    ),
    pytest.param(
        f"{{% set x %}}{{% for a in '{LONG}' %}}{LONG}{{% endfor %}}{{% endset %}}"
        "{{ x | length }}",
        "MAX_PRODUCED_CHARS",
        id="captured-block",
    ),
    pytest.param(
        f"{{% for a in '{LONG}' %}}{{{{ client.company }}}}{{% endfor %}}",
        "MAX_OUTPUT_CHARS",
        id="output-as-it-grows",
    ),
]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.parametrize(("template", "limit"), BOMBS)
def test_bomb_fails_within_the_budget(template: str, limit: str) -> None:
    assert template_errors(template) == []  # accepted on save: only rendering can stop it
    gc.collect()
    before = rss_mb()
    with pytest.raises(LimitError) as err:
        render(template, VARS)
    grown = rss_mb() - before
    assert err.value.limit == limit
    assert limit in err.value.message
    assert err.value.message.startswith("template limit exceeded: ")
    assert 0 < err.value.operations <= MAX_OPERATIONS
    assert grown < RSS_BUDGET_MB, f"RSS grew by {grown:.0f} MB"


def test_reasonable_templates_stay_within_the_limits() -> None:
    assert render("{{ '-' * 20 }}", VARS) == "-" * 20
    assert render("{{ '%5.2f|%-4s|' % (3.14159, 'ab') }}", VARS) == " 3.14|ab  |"
    assert render("{{ 2 ** 64 }}", VARS) == str(2**64)
    total = "{% for i in event.payload['items'] %}{{ i }},{% endfor %}"
    assert render(total, VARS).count(",") == 5_000
    assert len(render("{{ client.company * 100 }}", VARS)) == MAX_VALUE_CHARS


def test_format_widths_up_to_the_limit_are_allowed() -> None:
    assert len(render(f"{{{{ '%{MAX_FORMAT_WIDTH}s' % 'x' }}}}", VARS)) == MAX_FORMAT_WIDTH
    with pytest.raises(TemplateError):
        render(f"{{{{ '%{MAX_FORMAT_WIDTH + 1}s' % 'x' }}}}", VARS)


def test_deep_nesting_is_a_clear_error_not_a_crash() -> None:
    deep = "{{ " + "[" * 5_000 + "]" * 5_000 + " }}"
    assert template_errors(deep) != []
    with pytest.raises(TemplateError):
        render(deep, VARS)
