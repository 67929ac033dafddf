"""The declared schema: the Piccolo tables' DDL plus tables/indexes.py, built in a scratch place.

Building the declared schema in PostgreSQL (rather than interpreting the Python classes) means
both sides of the comparison are normalised by the same server and read by the same code.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.db import with_database
from app.schema_check.catalog import Catalog, read_catalog


def declared_ddl() -> list[str]:
    """CREATE statements for every declared table (dependency order) and composite index."""
    from piccolo.table import sort_table_classes

    from tables import ALL_TABLES
    from tables.indexes import COMPOSITE_INDEXES

    statements: list[str] = []
    for table in sort_table_classes(list(ALL_TABLES)):
        statements.extend(table.create_table().ddl)
    statements.extend(index.create_sql for index in COMPOSITE_INDEXES)
    return statements


async def _build_in_scratch_database(live: Any, live_url: str, ddl: list[str]) -> Catalog:
    name = f"crmflow_verify_{uuid.uuid4().hex[:12]}"
    # template0: nothing but the server's built-ins, whatever template1 has picked up.
    await live.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        scratch = await asyncpg.connect(with_database(live_url, name), timeout=30)
        try:
            async with scratch.transaction():
                for statement in ddl:
                    await scratch.execute(statement)
            return await read_catalog(scratch, "public")
        finally:
            await scratch.close()
    finally:
        await live.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _build_in_rolled_back_schema(live: Any, ddl: list[str]) -> Catalog:
    """Fallback without CREATEDB: a scratch schema in the live database, never committed."""
    schema = f"crmflow_verify_{uuid.uuid4().hex[:12]}"
    tr = live.transaction()
    await tr.start()
    try:
        await live.execute(f'CREATE SCHEMA "{schema}"')
        await live.execute(f'SET LOCAL search_path TO "{schema}"')
        for statement in ddl:
            await live.execute(statement)
        return await read_catalog(live, schema)
    finally:
        await tr.rollback()


async def read_declared_catalog(live: Any, live_url: str) -> tuple[Catalog, str]:
    """The declared catalog, and where it was built ("scratch database" or "scratch schema")."""
    ddl = declared_ddl()
    try:
        return await _build_in_scratch_database(live, live_url, ddl), "scratch database"
    except asyncpg.InsufficientPrivilegeError:
        return await _build_in_rolled_back_schema(live, ddl), "rolled-back scratch schema"
