"""Read a schema's tables and everything that shapes their behaviour from pg_catalog.

The same reader is applied to the live database and to the scratch database built from the
declared tables, so both sides go through identical normalisation (format_type, pg_get_expr,
pg_get_constraintdef, pg_get_indexdef, pg_get_triggerdef ...) and a plain comparison is enough.

Read: tables (kind, persistence, row level security and its forcing, replica identity,
inheritance / partition parents, partition key), columns (type, collation, nullability, default,
identity, generation), constraints (full definition: columns, FK actions, MATCH, DEFERRABLE,
NOT VALID, NULLS NOT DISTINCT, INCLUDE), indexes (uniqueness, method, columns and expressions,
opclasses, collations, ordering, INCLUDE, predicate, validity), triggers (user ones, and the
enabled state of the internal triggers that enforce foreign keys), rules, row security policies
and sequences. Deliberately not read: anything maintenance or tuning changes (comments, storage
parameters, statistics targets, extended statistics, CLUSTER marks, tablespaces, storage and
compression, ownership and grants) — see the README's "Schema check" section.
"""

from __future__ import annotations

import re
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
    # The column's collation when it is not its type's default one (COLLATE "C" ...).
    collation: str | None = None


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
    # pg_get_constraintdef: MATCH type, DEFERRABLE / INITIALLY DEFERRED, NOT VALID as well.
    definition: str = ""

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
    # pg_get_indexdef without storage parameters and tablespace (tuning, not behaviour).
    definition: str
    # False after a failed CREATE/REINDEX ... CONCURRENTLY: not used by queries.
    valid: bool = True


@dataclass(frozen=True)
class Prop:
    """One more property of a declared table or of an object attached to one.

    kind "table" / "column": a property every table or column has (compared when both sides
    have the table/column); kind "trigger", "rule", "policy", "sequence": an object that is
    either present (with this value) or not.
    """

    kind: str
    name: str  # "clients", "clients.name", "clients.audit_trigger", "clients_id_seq"
    prop: str  # "persistence", "collation", "definition", "state", "owner" ...
    value: str
    table: str | None = None  # the declared table it belongs to, if any
    also: str | None = None  # another table it depends on (a foreign key's own table)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.prop)


# Kinds whose entries are whole objects (reported missing/extra), not properties.
OBJECT_KINDS = frozenset({"trigger", "rule", "policy", "sequence"})


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
    # Table properties, triggers, rules, policies, sequences (see Prop), keyed by Prop.key.
    props: dict[tuple[str, str, str], Prop] = field(default_factory=dict)

    def add(self, prop: Prop) -> None:
        self.props[prop.key] = prop


_TABLES_SQL = """
SELECT c.oid, c.relname, c.relkind::text AS relkind, c.relpersistence::text AS persistence,
       c.relrowsecurity, c.relforcerowsecurity, c.relreplident::text AS replident,
       (SELECT ic.relname FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
        WHERE x.indrelid = c.oid AND x.indisreplident) AS replident_index,
       (SELECT string_agg(pn.nspname || '.' || p.relname, ', ' ORDER BY i.inhseqno)
        FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE i.inhrelid = c.oid) AS inherits,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.reloftype <> 0 THEN format_type(c.reloftype, NULL) END AS of_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""

_TRIGGERS_SQL = """
SELECT c.relname AS table_name, t.tgname, t.tgisinternal, t.tgenabled::text AS enabled,
       pg_get_triggerdef(t.oid, true) AS definition, con.conname, con.contype::text AS contype,
       fc.relname AS fk_table,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord)::text[] AS fk_columns
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint con ON con.oid = t.tgconstraint
LEFT JOIN pg_class fc ON fc.oid = con.conrelid
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname, t.tgname
"""

_RULES_SQL = """
SELECT c.relname AS table_name, r.rulename, r.ev_enabled::text AS enabled,
       pg_get_ruledef(r.oid, true) AS definition
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND r.rulename <> '_RETURN'
ORDER BY c.relname, r.rulename
"""

_POLICIES_SQL = """
SELECT c.relname AS table_name, p.polname, p.polpermissive, p.polcmd::text AS cmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END
             FROM unnest(p.polroles) AS r ORDER BY 1)::text[] AS roles,
       pg_get_expr(p.polqual, p.polrelid, true) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid, true) AS check_expr
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1
ORDER BY c.relname, p.polname
"""

_SEQUENCES_SQL = """
SELECT s.relname AS sequence_name, d.deptype::text AS deptype,
       tc.relname AS table_name, a.attname AS column_name
FROM pg_class s
JOIN pg_namespace n ON n.oid = s.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE n.nspname = $1 AND s.relkind = 'S'
ORDER BY s.relname
"""

_TRIGGER_STATES = {
    "O": "enabled",
    "D": "disabled",
    "R": "enabled on replicas only",
    "A": "enabled always (also on replicas)",
}
_REPLICA_IDENTITY = {"d": "default", "f": "full", "n": "nothing", "i": "index"}
_POLICY_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}

_COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text AS attidentity, a.attgenerated::text AS attgenerated,
       CASE WHEN a.attcollation <> ty.typcollation THEN co.collname END AS collation
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation
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
       pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid
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


# Storage parameters and tablespaces in index and constraint definitions: tuning, not behaviour.
_TUNING = re.compile(r" WITH \([^()]*\)| USING INDEX TABLESPACE \S+| TABLESPACE \S+")


def without_tuning(definition: str) -> str:
    """An index or constraint definition without WITH (fillfactor=…) and TABLESPACE (the
    predicate, if any, is left alone)."""
    head, where, predicate = definition.partition(" WHERE ")
    return _TUNING.sub("", head) + where + predicate


def _table_props(catalog: Catalog, row: Any) -> None:
    table = row["relname"]
    replica = _REPLICA_IDENTITY.get(row["replident"], row["replident"])
    if row["replident"] == "i":
        replica = f"index {row['replident_index']}"
    values = {
        "kind": "partitioned table" if row["relkind"] == "p" else "table",
        "persistence": {"p": "logged", "u": "UNLOGGED", "t": "temporary"}.get(
            row["persistence"], row["persistence"]
        ),
        "row level security": "enabled" if row["relrowsecurity"] else "disabled",
        "row level security forced on the owner": "yes" if row["relforcerowsecurity"] else "no",
        "replica identity": replica,
        "inherits from": row["inherits"] or "nothing",
        "partition key": row["partition_key"] or "none",
        "typed table of": row["of_type"] or "none",
    }
    for prop, value in values.items():
        catalog.add(Prop("table", table, prop, value, table=table))


async def _read_attached(conn: Any, catalog: Catalog, schema: str) -> None:
    """Triggers, rules, policies and sequences of the schema's (non-ignored) tables."""
    internal: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for row in await conn.fetch(_TRIGGERS_SQL, schema):
        table = row["table_name"]
        if table not in catalog.tables:
            continue
        state = _TRIGGER_STATES.get(row["enabled"], row["enabled"])
        if row["tgisinternal"]:
            # Foreign keys are enforced by internal triggers on both tables (their names carry
            # oids, so they are named here by the foreign key, as the fk check names it): only
            # their enabled state can drift — ALTER TABLE … DISABLE TRIGGER ALL silently stops
            # enforcing every foreign key from and to the table.
            # (A deferrable UNIQUE/EXCLUDE has internal triggers too: they exist only when the
            # constraint's definition, compared above, says DEFERRABLE.)
            if row["contype"] == "f":
                internal.setdefault((table, row["fk_table"], tuple(row["fk_columns"])), set()).add(
                    state
                )
            continue
        definition = _strip_schema(row["definition"], schema)
        catalog.add(
            Prop("trigger", f"{table}.{row['tgname']}", "definition", definition, table=table)
        )
        catalog.add(Prop("trigger", f"{table}.{row['tgname']}", "state", state, table=table))
    for (table, fk_table, fk_columns), states in internal.items():
        catalog.add(
            Prop(
                "trigger",
                f"{table}: internal triggers of fk {fk_table}.{', '.join(fk_columns)}",
                "state",
                ", ".join(sorted(states)),
                table=table,
                also=fk_table,
            )
        )
    for row in await conn.fetch(_RULES_SQL, schema):
        table = row["table_name"]
        if table not in catalog.tables:
            continue
        name = f"{table}.{row['rulename']}"
        definition = _strip_schema(row["definition"], schema)
        catalog.add(Prop("rule", name, "definition", definition, table=table))
        state = _TRIGGER_STATES.get(row["enabled"], row["enabled"])
        catalog.add(Prop("rule", name, "state", state, table=table))
    for row in await conn.fetch(_POLICIES_SQL, schema):
        table = row["table_name"]
        if table not in catalog.tables:
            continue
        kind = "PERMISSIVE" if row["polpermissive"] else "RESTRICTIVE"
        text = (
            f"{kind} FOR {_POLICY_COMMANDS.get(row['cmd'], row['cmd'])} "
            f"TO {', '.join(row['roles'])}"
        )
        if row["using_expr"]:
            text += f" USING ({row['using_expr']})"
        if row["check_expr"]:
            text += f" WITH CHECK ({row['check_expr']})"
        catalog.add(Prop("policy", f"{table}.{row['polname']}", "definition", text, table=table))
    for row in await conn.fetch(_SEQUENCES_SQL, schema):
        owner_table = row["table_name"]
        if owner_table is not None and is_ignored(owner_table):
            continue
        if owner_table is None:
            owner = "owned by nothing"
        else:
            how = "identity of" if row["deptype"] == "i" else "owned by"
            owner = f"{how} {owner_table}.{row['column_name']}"
        catalog.add(Prop("sequence", row["sequence_name"], "owner", owner, table=owner_table))


async def read_catalog(conn: Any, schema: str = "public") -> Catalog:
    """The schema's objects as seen by pg_catalog (tooling tables left out)."""
    catalog = Catalog()
    for row in await conn.fetch(_TABLES_SQL, schema):
        if not is_ignored(row["relname"]):
            catalog.tables[row["relname"]] = Table(name=row["relname"])
            _table_props(catalog, row)

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
            name=row["attname"],
            type=row["type"],
            not_null=row["attnotnull"],
            default=default,
            collation=row["collation"],
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
                definition=without_tuning(row["definition"]),
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
            definition=without_tuning(row["definition"]),
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
            definition=without_tuning(_strip_schema(row["definition"], schema)),
            valid=row["indisvalid"],
        )
    await _read_attached(conn, catalog, schema)
    return catalog
