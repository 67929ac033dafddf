"""Read a schema's tables, columns, constraints and indexes from pg_catalog.

The same reader is applied to the live database and to the scratch database built from the
declared tables, so both sides go through identical normalisation (format_type,
pg_get_expr, pg_get_constraintdef) and a plain comparison is enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Piccolo's ledger of migrations that ran (piccolo.apps.migrations.tables.Migration).
MIGRATION_LEDGER = "migration"
# Tables that belong to the tooling, not to the schema: Piccolo's migration ledger and SAQ's queue.
IGNORED_TABLES = (MIGRATION_LEDGER,)
IGNORED_TABLE_PREFIXES = ("saq_",)

FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def is_ignored(table: str) -> bool:
    return table in IGNORED_TABLES or table.startswith(IGNORED_TABLE_PREFIXES)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class Constraint:
    """A PRIMARY KEY, UNIQUE, CHECK or EXCLUDE constraint."""

    name: str
    table: str
    kind: str  # "primary key" | "unique" | "check" | "exclusion"
    columns: tuple[str, ...]
    definition: str


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    target_table: str
    target_columns: tuple[str, ...]
    on_delete: str
    on_update: str

    @property
    def label(self) -> str:
        return f"{self.table}.{', '.join(self.columns)}"


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool
    method: str
    predicate: str | None
    definition: str


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)


@dataclass
class Catalog:
    tables: dict[str, Table] = field(default_factory=dict)
    # Keyed by constraint name (PRIMARY KEY keyed by table: its name is incidental).
    constraints: dict[str, Constraint] = field(default_factory=dict)
    # Keyed by (table, columns): "fk tasks.client".
    foreign_keys: dict[tuple[str, tuple[str, ...]], ForeignKey] = field(default_factory=dict)
    # Indexes that do not back a constraint, keyed by name.
    indexes: dict[str, Index] = field(default_factory=dict)


_TABLES_SQL = """
SELECT c.oid, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""

_COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text AS attidentity, a.attgenerated::text AS attgenerated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS_SQL = """
SELECT con.conname, con.contype::text AS contype, c.relname AS table_name,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord)::text[] AS columns,
       pg_get_constraintdef(con.oid, true) AS definition,
       ft.relname AS target_table,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)::text[] AS target_columns,
       con.confdeltype::text AS confdeltype, con.confupdtype::text AS confupdtype
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class ft ON ft.oid = con.confrelid
WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'c', 'f', 'x')
ORDER BY c.relname, con.conname
"""

_INDEXES_SQL = """
SELECT ic.relname AS index_name, c.relname AS table_name, i.indisunique,
       am.amname AS method,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k.ord::int, true)
             FROM generate_series(1, i.indnkeyatts) AS k(ord) ORDER BY k.ord)::text[] AS columns,
       pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE n.nspname = $1
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, ic.relname
"""

_KINDS = {"p": "primary key", "u": "unique", "c": "check", "x": "exclusion"}


def _strip_schema(definition: str, schema: str) -> str:
    """pg_get_indexdef qualifies the table with its schema; drop it so schemas compare equal."""
    return definition.replace(f" {schema}.", " ").replace(f' "{schema}".', " ")


async def read_catalog(conn: Any, schema: str = "public") -> Catalog:
    """The schema's objects as seen by pg_catalog (tooling tables left out)."""
    catalog = Catalog()
    for row in await conn.fetch(_TABLES_SQL, schema):
        if not is_ignored(row["relname"]):
            catalog.tables[row["relname"]] = Table(name=row["relname"])

    for row in await conn.fetch(_COLUMNS_SQL, schema):
        table = catalog.tables.get(row["table_name"])
        if table is None:
            continue
        default = row["default_expr"]
        if row["attidentity"]:
            when = "ALWAYS" if row["attidentity"] == "a" else "BY DEFAULT"
            default = f"GENERATED {when} AS IDENTITY"
        elif row["attgenerated"]:
            default = f"GENERATED ALWAYS AS ({default}) STORED"
        table.columns[row["attname"]] = Column(
            name=row["attname"], type=row["type"], not_null=row["attnotnull"], default=default
        )

    for row in await conn.fetch(_CONSTRAINTS_SQL, schema):
        table_name = row["table_name"]
        if table_name not in catalog.tables:
            continue
        columns = tuple(row["columns"] or ())
        if row["contype"] == "f":
            fk = ForeignKey(
                name=row["conname"],
                table=table_name,
                columns=columns,
                target_table=row["target_table"],
                target_columns=tuple(row["target_columns"] or ()),
                on_delete=FK_ACTIONS.get(row["confdeltype"], row["confdeltype"]),
                on_update=FK_ACTIONS.get(row["confupdtype"], row["confupdtype"]),
            )
            catalog.foreign_keys[(table_name, columns)] = fk
            continue
        kind = _KINDS[row["contype"]]
        key = f"{table_name} primary key" if kind == "primary key" else row["conname"]
        catalog.constraints[key] = Constraint(
            name=row["conname"],
            table=table_name,
            kind=kind,
            columns=columns,
            definition=row["definition"],
        )

    for row in await conn.fetch(_INDEXES_SQL, schema):
        if row["table_name"] not in catalog.tables:
            continue
        catalog.indexes[row["index_name"]] = Index(
            name=row["index_name"],
            table=row["table_name"],
            columns=tuple(row["columns"] or ()),
            unique=row["indisunique"],
            method=row["method"],
            predicate=row["predicate"],
            definition=_strip_schema(row["definition"], schema),
        )
    return catalog
