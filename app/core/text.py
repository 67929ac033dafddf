"""Text rules shared by the schemas and the services, so both agree on what "blank" means."""

from __future__ import annotations

# The whitespace the schemas' `[^ \t\n\r\f\v]` patterns mean; str.strip() would also eat control
# characters such as \x1d, which the schema accepts, turning a valid request into a 422.
ASCII_SPACE = " \t\n\r\f\v"


def trim(text: str) -> str:
    return text.strip(ASCII_SPACE)


def is_ascii_digits(text: str) -> bool:
    """Only 0-9: str.isdigit() also accepts '²' or '٣', which int() then refuses or reads."""
    return text.isascii() and text.isdigit()


def normalize_tag(tag: str) -> str:
    """The one spelling of a tag: trimmed and lower-case, so `VIP`, ` vip` and `vip` are one tag.

    Applied wherever a tag is written or compared (client tags, ADD_TAG/REMOVE_TAG, `?tag=`,
    conditions on client.tags), so no comparison ever needs to know about case.
    """
    return trim(tag).lower()
