"""Piccolo configuration: the engine for the configured (or embedded) PostgreSQL."""

from piccolo.conf.apps import AppRegistry

from app.core.db import make_engine, resolve_database_url

DB = make_engine(resolve_database_url())

APP_REGISTRY = AppRegistry(apps=["tables.piccolo_app"])
