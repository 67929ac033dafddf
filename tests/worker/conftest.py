"""The engine's backend fixtures (Postgres queue, Redis) serve the worker tests too."""

from tests.engine.conftest import backend

__all__ = ["backend"]
