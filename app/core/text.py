"""Text rules shared by the schemas and the services, so both agree on what "blank" means."""

from __future__ import annotations

# The whitespace the schemas' `[^ \t\n\r\f\v]` patterns mean; str.strip() would also eat control
# characters such as \x1d, which the schema accepts, turning a valid request into a 422.
ASCII_SPACE = " \t\n\r\f\v"


def trim(text: str) -> str:
    return text.strip(ASCII_SPACE)
