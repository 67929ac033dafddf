"""Compare the declared catalog with the live one; every difference is named."""

from __future__ import annotations

from dataclasses import dataclass

from app.schema_check.catalog import (
    OBJECT_KINDS,
    Catalog,
    Column,
    Constraint,
    ForeignKey,
    Index,
    Prop,
)


@dataclass(frozen=True)
class Difference:
    # table | column | primary key | unique | check | exclusion | fk | index | trigger | rule |
    # policy | sequence
    kind: str
    name: str  # e.g. "clients", "clients.email", "ix_clients_tenant_created", "tasks.client"
    problem: str  # missing | extra | differs
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "problem": self.problem,
            "message": self.message,
        }


def _nullability(column: Column) -> str:
    return "NOT NULL" if column.not_null else "NULL"


def _cols(columns: tuple[str, ...]) -> str:
    return f"({', '.join(columns)})"


def _default(value: str | None) -> str:
    return "none" if value is None else value


def _diff_columns(
    table: str, declared: dict[str, Column], live: dict[str, Column]
) -> list[Difference]:
    out: list[Difference] = []
    for name, want in declared.items():
        label = f"{table}.{name}"
        have = live.get(name)
        if have is None:
            out.append(Difference("column", label, "missing", f"column {label} missing"))
            continue
        if want.type != have.type:
            out.append(
                Difference(
                    "column",
                    label,
                    "differs",
                    f"column {label}: type differs (declared {want.type}, live {have.type})",
                )
            )
        if want.not_null != have.not_null:
            out.append(
                Difference(
                    "column",
                    label,
                    "differs",
                    f"column {label}: nullable differs (declared "
                    f"{_nullability(want)}, live {_nullability(have)})",
                )
            )
        if want.collation != have.collation:
            out.append(
                Difference(
                    "column",
                    label,
                    "differs",
                    f"column {label}: collation differs (declared "
                    f"{want.collation or 'default'}, live {have.collation or 'default'})",
                )
            )
        if want.default != have.default:
            out.append(
                Difference(
                    "column",
                    label,
                    "differs",
                    f"column {label}: default differs (declared "
                    f"{_default(want.default)}, live {_default(have.default)})",
                )
            )
    for name in live:
        if name in declared:
            continue
        label = f"{table}.{name}"
        out.append(Difference("column", label, "extra", f"column {label} extra (not declared)"))
    return out


def _constraint_label(c: Constraint) -> str:
    if c.kind == "primary key":
        return c.table
    return c.name


def _diff_constraints(
    declared: dict[str, Constraint], live: dict[str, Constraint], skip_tables: set[str]
) -> list[Difference]:
    out: list[Difference] = []
    for key, want in declared.items():
        if want.table in skip_tables:
            continue
        label = _constraint_label(want)
        have = live.get(key)
        if have is None or have.kind != want.kind:
            where = "" if want.kind == "primary key" else f" on {want.table}"
            out.append(
                Difference(
                    want.kind,
                    label,
                    "missing",
                    f"{want.kind} {label}{where} {_cols(want.columns)} missing",
                )
            )
            continue
        if have.table != want.table:
            out.append(
                Difference(
                    want.kind,
                    label,
                    "differs",
                    f"{want.kind} {label}: table differs "
                    f"(declared {want.table}, live {have.table})",
                )
            )
        elif want.columns != have.columns:
            out.append(
                Difference(
                    want.kind,
                    label,
                    "differs",
                    f"{want.kind} {label}: columns differ (declared "
                    f"{_cols(want.columns)}, live {_cols(have.columns)})",
                )
            )
        elif want.kind != "primary key" and want.definition != have.definition:
            out.append(
                Difference(
                    want.kind,
                    label,
                    "differs",
                    f"{want.kind} {label}: definition differs (declared "
                    f"{want.definition}, live {have.definition})",
                )
            )
    for key, have in live.items():
        if have.table in skip_tables:
            continue
        want_other = declared.get(key)
        if want_other is None or want_other.kind != have.kind:
            label = _constraint_label(have)
            out.append(
                Difference(
                    have.kind,
                    label,
                    "extra",
                    f"{have.kind} {label} on {have.table} "
                    f"{_cols(have.columns)} extra (not declared)",
                )
            )
    return out


def _diff_foreign_keys(
    declared: dict[tuple[str, tuple[str, ...]], ForeignKey],
    live: dict[tuple[str, tuple[str, ...]], ForeignKey],
    skip_tables: set[str],
) -> list[Difference]:
    out: list[Difference] = []
    for key, want in declared.items():
        if want.table in skip_tables:
            continue
        label = want.label
        have = live.get(key)
        if have is None:
            out.append(
                Difference(
                    "fk",
                    label,
                    "missing",
                    f"fk {label} missing (→ {want.target_table}"
                    f"{_cols(want.target_columns)} ON DELETE {want.on_delete})",
                )
            )
            continue
        want_target = f"{want.target_table}{_cols(want.target_columns)}"
        have_target = f"{have.target_table}{_cols(have.target_columns)}"
        if want_target != have_target:
            out.append(
                Difference(
                    "fk",
                    label,
                    "differs",
                    f"fk {label}: target differs (declared {want_target}, live {have_target})",
                )
            )
        if want.on_delete != have.on_delete:
            out.append(
                Difference(
                    "fk",
                    label,
                    "differs",
                    f"fk {label}: ON DELETE differs "
                    f"(declared {want.on_delete}, live {have.on_delete})",
                )
            )
        if want.on_update != have.on_update:
            out.append(
                Difference(
                    "fk",
                    label,
                    "differs",
                    f"fk {label}: ON UPDATE differs "
                    f"(declared {want.on_update}, live {have.on_update})",
                )
            )
        same_so_far = want_target == have_target and (want.on_delete, want.on_update) == (
            have.on_delete,
            have.on_update,
        )
        if same_so_far and want.definition != have.definition:
            # MATCH FULL, DEFERRABLE / INITIALLY DEFERRED, NOT VALID.
            out.append(
                Difference(
                    "fk",
                    label,
                    "differs",
                    f"fk {label}: definition differs "
                    f"(declared {want.definition}, live {have.definition})",
                )
            )
    for key, have in live.items():
        if have.table in skip_tables or key in declared:
            continue
        out.append(
            Difference(
                "fk",
                have.label,
                "extra",
                f"fk {have.label} extra (not declared; → {have.target_table}, "
                f"ON DELETE {have.on_delete})",
            )
        )
    return out


def _index_shape(index: Index) -> str:
    unique = "UNIQUE " if index.unique else ""
    where = f" WHERE {index.predicate}" if index.predicate else ""
    return f"{unique}{index.table} USING {index.method} {_cols(index.columns)}{where}"


def _diff_indexes(
    declared: dict[str, Index], live: dict[str, Index], skip_tables: set[str]
) -> list[Difference]:
    out: list[Difference] = []
    for name, want in declared.items():
        if want.table in skip_tables:
            continue
        have = live.get(name)
        if have is None:
            out.append(
                Difference("index", name, "missing", f"index {name} missing ({_index_shape(want)})")
            )
            continue
        problems: list[str] = []
        if want.table != have.table:
            problems.append(f"table differs (declared {want.table}, live {have.table})")
        if want.columns != have.columns:
            problems.append(
                f"columns differ (declared {_cols(want.columns)}, live {_cols(have.columns)})"
            )
        if want.unique != have.unique:
            problems.append(
                f"uniqueness differs (declared "
                f"{'UNIQUE' if want.unique else 'not unique'}, live "
                f"{'UNIQUE' if have.unique else 'not unique'})"
            )
        if want.method != have.method:
            problems.append(f"method differs (declared {want.method}, live {have.method})")
        if want.predicate != have.predicate:
            problems.append(
                f"partial predicate differs (declared {want.predicate or 'none'}, "
                f"live {have.predicate or 'none'})"
            )
        if not problems and want.definition != have.definition:
            # Operator classes, collations, ordering, INCLUDE, NULLS NOT DISTINCT.
            problems.append(
                f"definition differs (declared {want.definition}, live {have.definition})"
            )
        if want.valid and not have.valid:
            problems.append(
                "is INVALID (a failed CREATE INDEX / REINDEX CONCURRENTLY): queries do not use "
                "it; drop and rebuild it"
            )
        out.extend(Difference("index", name, "differs", f"index {name}: {p}") for p in problems)
    for name, have in live.items():
        if have.table in skip_tables or name in declared:
            continue
        out.append(
            Difference(
                "index", name, "extra", f"index {name} extra (not declared: {_index_shape(have)})"
            )
        )
    return out


def _prop_skipped(prop: Prop, declared: Catalog, live: Catalog, skip: set[str]) -> bool:
    """A property of a missing/extra table or column is already reported by that."""
    if prop.table in skip or prop.also in skip:
        return True
    if prop.kind == "column":
        table, _, column = prop.name.partition(".")
        return column not in declared.tables[table].columns or (
            column not in live.tables[table].columns
        )
    return False


def _diff_props(declared: Catalog, live: Catalog, skip: set[str]) -> list[Difference]:
    out: list[Difference] = []
    for key in sorted(set(declared.props) | set(live.props)):
        want, have = declared.props.get(key), live.props.get(key)
        some = want or have
        assert some is not None
        if _prop_skipped(some, declared, live, skip):
            continue
        kind, name, prop = key
        if want is not None and have is not None:
            if want.value != have.value:
                out.append(
                    Difference(
                        kind,
                        name,
                        "differs",
                        f"{kind} {name}: {prop} differs (declared {want.value}, live {have.value})",
                    )
                )
            continue
        # An object on one side only: name it once (by its first property), not per property.
        first = min(k for k in (declared.props if have is None else live.props) if k[:2] == key[:2])
        if key != first:
            continue
        if have is None:
            assert want is not None
            out.append(
                Difference(kind, name, "missing", f"{kind} {name} missing ({prop}: {want.value})")
            )
        elif kind in OBJECT_KINDS:
            shown = "; ".join(
                f"{p.prop}: {p.value}" for k, p in sorted(live.props.items()) if k[:2] == key[:2]
            )
            out.append(
                Difference(kind, name, "extra", f"{kind} {name} extra (not declared; {shown})")
            )
        else:
            out.append(
                Difference(
                    kind, name, "extra", f"{kind} {name}: {prop} {have.value} (not declared)"
                )
            )
    return out


def diff_catalogs(declared: Catalog, live: Catalog) -> list[Difference]:
    """Every missing, extra or different object, by name (declared is the truth)."""
    out: list[Difference] = []
    missing_tables = set(declared.tables) - set(live.tables)
    extra_tables = set(live.tables) - set(declared.tables)
    for name in sorted(missing_tables):
        out.append(Difference("table", name, "missing", f"table {name} missing"))
    for name in sorted(extra_tables):
        out.append(Difference("table", name, "extra", f"table {name} extra (not declared)"))
    # A missing or extra table is reported once, not once per column, constraint and index.
    skip = missing_tables | extra_tables
    for name in sorted(set(declared.tables) & set(live.tables)):
        out.extend(_diff_columns(name, declared.tables[name].columns, live.tables[name].columns))
    out.extend(_diff_constraints(declared.constraints, live.constraints, skip))
    out.extend(_diff_foreign_keys(declared.foreign_keys, live.foreign_keys, skip))
    out.extend(_diff_indexes(declared.indexes, live.indexes, skip))
    out.extend(_diff_props(declared, live, skip))
    return out
