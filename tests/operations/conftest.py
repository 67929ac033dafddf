"""Fixtures of the operations tests."""

from tests.operations.helpers import json_log  # noqa: F401 - the JSON log buffer fixture
