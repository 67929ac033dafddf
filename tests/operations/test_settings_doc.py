"""The README's configuration table is generated from Settings and cannot drift."""

from __future__ import annotations

from app.core import settings_doc
from app.core.config import Settings


def test_every_setting_is_described() -> None:
    assert settings_doc.undocumented() == [], (
        "describe these settings in app/core/settings_doc.py MEANING, then run "
        "`crmflow settings-doc --write`"
    )
    assert settings_doc.stale() == []


def test_readme_table_is_what_the_settings_class_generates() -> None:
    readme = settings_doc.readme_path().read_text()
    current = settings_doc.current_block(readme)
    assert current is not None, "README.md lost its settings-doc markers"
    assert current == settings_doc.block(), (
        "README.md's configuration table is stale: run `crmflow settings-doc --write`"
    )
    for name in Settings.__struct_fields__:
        assert f"| `{name.upper()}` |" in current
