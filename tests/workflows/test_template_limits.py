"""Template bombs: each fails with an error naming the limit, within the operation budget,
without the process growing by more than RSS_BUDGET_MB."""

from __future__ import annotations

import gc
from collections.abc import Callable

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

# How much the process' RSS may grow, at its peak, while rendering one bomb (the issue saw
# +763 MB). The peak, not the RSS afterwards: a freed string gives its pages back at once, so the
# RSS after a render would not see a bomb that grew to hundreds of MB and then failed.
RSS_BUDGET_MB = 20

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


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def peak_rss_growth_mb(work: Callable[[], object]) -> float:
    """How far the RSS rose above its starting point while `work` ran (Linux: the peak, VmHWM,
    reset first through /proc/self/clear_refs)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS
    before = _status_mb("VmRSS")
    work()
    return _status_mb("VmHWM") - before


def test_the_rss_measure_sees_a_transient_allocation() -> None:
    """The measure catches memory that was taken and given back before the render returned."""

    def transient() -> None:
        block = bytearray(200 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        del block

    assert peak_rss_growth_mb(transient) > 150


@pytest.mark.parametrize(("template", "limit"), BOMBS)
def test_bomb_fails_within_the_budget(template: str, limit: str) -> None:
    assert template_errors(template) == []  # accepted on save: only rendering can stop it
    errors: list[LimitError] = []

    def bomb() -> None:
        with pytest.raises(LimitError) as err:
            render(template, VARS)
        errors.append(err.value)

    grown = peak_rss_growth_mb(bomb)
    [error] = errors
    assert error.limit == limit
    assert limit in error.message
    assert error.message.startswith("template limit exceeded: ")
    assert 0 < error.operations <= MAX_OPERATIONS
    assert grown < RSS_BUDGET_MB, f"RSS peaked {grown:.0f} MB above its start"


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
