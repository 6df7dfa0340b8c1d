"""The seed migrations (0001-0099) create exactly what ``schema-reference.md`` describes.

How: the reference is parsed, the documented reconstructions below are applied to it, and
the result is built as temporary tables on the same server. PostgreSQL then normalises
both sides (types, default expressions, index predicates), so catalog rows are compared
with catalog rows instead of re-implementing SQL formatting in the test.

The reference was generated from the upstream application's migrations and is lossy: it
cuts values at commas and spaces, drops some columns, and prints neither primary keys,
UNIQUE constraints nor index access methods. Every place where the schema departs from
the literal text is listed in ``RECONSTRUCTIONS`` (with the reason) and checked both ways:
the schema must match the reconstruction, and the reference must still show the lossy
text, so a corrected reference makes the stale entry fail instead of hiding a difference.

Two comparisons run per table: exact, on a database built from the seed migrations only;
and "still holds", on the fully migrated database, where the gateway's own migrations
(0100+) may append columns and indexes but must not change anything the seed defines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psycopg
import pytest

from gateway.db.migrate import MIGRATIONS_DIR, migrate
from tests.conftest import create_database, drop_database

_CHECKOUT = Path(__file__).resolve().parents[2]
_REFERENCE_PATH = Path("shared") / "seed" / "schema-reference.md"


def find_reference(checkout: Path = _CHECKOUT, override: str | None = None) -> Path | None:
    """``shared/seed/schema-reference.md`` beside the checkout, or beside a folder above it.

    CI lays ``shared/`` beside the clone; a git worktree (``/work/wt/<branch>``) finds the
    one beside the main checkout further up. ``override`` (``GATEWAY_SEED_REFERENCE``, a
    test-only variable) names the file instead.
    """
    if override:
        return Path(override) if Path(override).is_file() else None
    for folder in checkout.parents:
        candidate = folder / _REFERENCE_PATH
        if candidate.is_file():
            return candidate
    return None


REFERENCE = find_reference(override=os.environ.get("GATEWAY_SEED_REFERENCE"))


_WHERE_LOOKED = os.environ.get("GATEWAY_SEED_REFERENCE") or f"{_REFERENCE_PATH} beside {_CHECKOUT} and above it"


@pytest.fixture(scope="module", autouse=True)
def _reference_present() -> None:
    """Fail, never skip, without the reference: a silent skip would hide a schema drift."""
    if REFERENCE is None:
        pytest.fail(
            f"the seed schema reference is missing (looked for {_WHERE_LOOKED}). This test compares the "
            "migrations with it and cannot run without it: put the shared/ folder beside the checkout.",
            pytrace=False,
        )


TABLES = (
    "organizations", "users", "user_id_mappings", "org_memberships", "groups",
    "group_memberships", "spaces", "conversations", "llm_usage", "routing_decisions",
    "email_logs", "audit_events", "arena_battles", "arena_battle_models", "model_rankings",
)  # fmt: skip
_ON_DELETE = MappingProxyType({"NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c", "SET NULL": "n", "SET DEFAULT": "d"})
Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class RefColumn:
    name: str
    type: str
    nullable: bool
    default: str | None
    comment: str | None


@dataclass(frozen=True)
class RefIndex:
    name: str
    unique: bool
    columns: str
    where: str | None


@dataclass(frozen=True)
class RefTable:
    name: str
    comment: str | None
    columns: tuple[RefColumn, ...]
    foreign_keys: tuple[tuple[str, str, str, str], ...]  # column, table, column, ON DELETE
    indexes: tuple[RefIndex, ...]  # as listed, duplicates included


# ----------------------------------------------------------------------------------------
# Reconstructions: every deliberate departure from the reference's literal text.
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cut:
    """A type or default the reference's generator cut off at a comma or space."""

    table: str
    column: str
    field: str  # "type" or "default"
    shown: str
    restored: str
    why: str


@dataclass(frozen=True)
class Added:
    """A column the reference's own indexes use but its column list omits."""

    table: str
    column: str
    after: str
    type: str
    not_null: bool
    default: str | None
    comment: str | None
    why: str


@dataclass(frozen=True)
class Reconstructions:
    cuts: tuple[Cut, ...]
    added: tuple[Added, ...]
    # Primary keys are never listed. Columns shown "Nullable YES" become NOT NULL only
    # because they are in the key: the expected table declares the same PRIMARY KEY.
    primary_keys: dict[str, tuple[str, ...]]
    # UNIQUE constraints are never listed; these come from the upstream CREATE TABLEs.
    unique: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]
    # Index name -> (access method, operator class of its single column or None).
    methods: dict[str, tuple[str, str | None]]
    # Names listed twice; the later listing (the later migration) is the definition.
    duplicate_indexes: frozenset[str]


def reconstructions() -> Reconstructions:
    """Built per call so no test can mutate what another one sees."""
    return Reconstructions(
        cuts=(
            Cut(
                "organizations",
                "allowed_tiers",
                "default",
                "ARRAY['basic'",
                "ARRAY['basic', 'standard', 'premium']",
                "cut at a comma, so more elements followed; upstream lists all three tiers",
            ),
            Cut(
                "organizations",
                "monthly_budget",
                "type",
                "DECIMAL(10",
                "DECIMAL(10,2)",
                "cut at the comma of (10,2); USD with cents, as upstream",
            ),
            Cut(
                "conversations",
                "title",
                "default",
                "'New",
                "'New Chat'",
                "cut at the space; upstream default is 'New Chat'",
            ),
        ),
        added=(
            Added(
                "conversations",
                "user_id",
                "refreshed_at",
                "TEXT",
                False,
                None,
                "UUID reference to users table",
                "legacy TEXT id like its siblings (UUID twin: user_uuid); nullable as upstream",
            ),
            Added(
                "conversations",
                "focus_area_id",
                "space_id",
                "TEXT",
                False,
                None,
                None,
                "focus_areas.id is TEXT; index filters IS NOT NULL; added with space_id",
            ),
            Added(
                "conversations",
                "task_id",
                "focus_area_id",
                "TEXT",
                False,
                None,
                None,
                "tasks.id is TEXT; index filters IS NOT NULL; added with space_id",
            ),
            Added(
                "arena_battles",
                "team_id",
                "user_id",
                "TEXT",
                False,
                None,
                None,
                "index filters IS NOT NULL; TEXT like conversations.team_id; upstream position",
            ),
            Added(
                "model_rankings",
                "elo_rating",
                "ties",
                "NUMERIC(10,2)",
                True,
                "1500.00",
                "Elo-style rating starting at 1500, K-factor 32 for updates",
                "as upstream declares it; its '(10, 2)' is why the generator lost it",
            ),
        ),
        primary_keys={
            **{
                t: ("id",)
                for t in TABLES
                if t not in {"user_id_mappings", "group_memberships", "arena_battle_models", "model_rankings"}
            },
            "user_id_mappings": ("legacy_id",),
            "group_memberships": ("group_id", "user_id"),
            "arena_battle_models": ("battle_id", "model_id"),
            "model_rankings": ("user_id", "model_id"),
        },
        unique={
            "organizations": (("organizations_slug_key", ("slug",)),),
            "users": (
                ("users_organization_id_email_key", ("organization_id", "email")),
                ("users_organization_id_username_key", ("organization_id", "username")),
            ),
            "org_memberships": (("org_memberships_organization_id_user_id_key", ("organization_id", "user_id")),),
            "groups": (("groups_organization_id_name_key", ("organization_id", "name")),),
        },
        methods={
            "idx_conversations_messages_gin": ("gin", "jsonb_path_ops"),
            "idx_arena_battles_responses_gin": ("gin", "jsonb_path_ops"),
            "idx_conversations_tags": ("gin", None),
        },
        duplicate_indexes=frozenset(
            {
                "idx_conversations_user_updated",
                "idx_conversations_space_id",
                "idx_spaces_user",
                "idx_spaces_order",
                "idx_arena_battles_user_created",
                "idx_model_rankings_elo",
            }
        ),
    )


# ----------------------------------------------------------------------------------------
# Parsing the reference.
# ----------------------------------------------------------------------------------------
_COLUMN = re.compile(
    r"^\| `(?P<name>\w+)` \| `\w+` \| (?P<type>.+?) \| (?P<nullable>YES|NO) \| "
    r"(?P<default>.*?) \| (?P<comment>.*) \|$"
)
_FK = re.compile(r"^- `(\w+)` → `(\w+)\.(\w+)`(?: \(ON DELETE ([A-Z ]+)\))?$")
_INDEX = re.compile(r"^- \*\*(\w+)\*\*: (UNIQUE )?\((.*?)\)(?: WHERE (.+))?$")


def parse_reference(text: str) -> dict[str, RefTable]:
    """Every table section of the reference, keyed by table name."""
    tables: dict[str, RefTable] = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        name, _, body = section.partition("\n")
        lines = [ln.strip() for ln in body.splitlines()]
        first = next((ln for ln in lines if ln), "")
        comment = None if first.startswith("#") else first
        cols: list[RefColumn] = []
        fks: list[tuple[str, str, str, str]] = []
        idx: list[RefIndex] = []
        for ln in lines:
            if m := _COLUMN.match(ln):
                default = None if m["default"] == "-" else m["default"]
                comment_ = None if m["comment"] == "-" else m["comment"]
                cols.append(RefColumn(m["name"], m["type"], m["nullable"] == "YES", default, comment_))
            elif m := _FK.match(ln):
                fks.append((m[1], m[2], m[3], m[4] or "NO ACTION"))
            elif m := _INDEX.match(ln):
                idx.append(RefIndex(m[1], bool(m[2]), m[3], m[4]))
        tables[name.strip()] = RefTable(name.strip(), comment, tuple(cols), tuple(fks), tuple(idx))
    return tables


@pytest.fixture(scope="module")
def reference() -> dict[str, RefTable]:
    assert REFERENCE is not None  # _reference_present has failed the module otherwise
    return parse_reference(REFERENCE.read_text(encoding="utf-8"))


def expected_ddl(ref: RefTable, rec: Reconstructions) -> list[str]:
    """The reference table plus its reconstructions, as DDL for a temporary table."""
    cuts = {(c.column, c.field): c.restored for c in rec.cuts if c.table == ref.name}
    cols: list[tuple[str, str]] = []
    for col in ref.columns:
        default = cuts.get((col.name, "default"), col.default)
        type_ = cuts.get((col.name, "type"), col.type)
        cols.append((col.name, _column_ddl(col.name, type_, not col.nullable, default)))
    for add in (a for a in rec.added if a.table == ref.name):
        at = [name for name, _ in cols].index(add.after) + 1
        cols.insert(at, (add.column, _column_ddl(add.column, add.type, add.not_null, add.default)))
    defs = [d for _, d in cols]
    defs.append(f"PRIMARY KEY ({', '.join(rec.primary_keys[ref.name])})")
    defs += [f"CONSTRAINT {n} UNIQUE ({', '.join(c)})" for n, c in rec.unique.get(ref.name, ())]
    ddl = [f"CREATE TEMP TABLE ref_{ref.name} ({', '.join(defs)})"]
    final = {i.name: i for i in ref.indexes}  # later listings overwrite earlier ones
    for ix in final.values():
        method, opclass = rec.methods.get(ix.name, ("btree", None))
        keys = f"{ix.columns} {opclass}" if opclass else ix.columns
        where = f" WHERE {ix.where}" if ix.where else ""
        unique = "UNIQUE " if ix.unique else ""
        ddl.append(f"CREATE {unique}INDEX {ix.name} ON ref_{ref.name} USING {method} ({keys}){where}")
    return ddl


def _column_ddl(name: str, type_: str, not_null: bool, default: str | None) -> str:
    return f"{name} {type_}{' NOT NULL' if not_null else ''}{f' DEFAULT {default}' if default else ''}"


# ----------------------------------------------------------------------------------------
# Reading the catalog: the same queries for the expected (temp) and actual (public) tables.
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    columns: list[tuple[Any, ...]]  # information_schema row, in ordinal order
    keys: dict[str, list[tuple[Any, ...]]]  # "p" / "u" -> [(name, [columns])]
    foreign_keys: set[tuple[Any, ...]]
    indexes: dict[str, tuple[Any, ...]]  # name -> (unique, method, [keys], predicate, definition)
    table_comment: str | None
    column_comments: dict[str, str | None]


def read_catalog(conn: Conn, schema: str, table: str) -> Catalog:
    """What PostgreSQL says about ``schema.table``."""
    oid_row = conn.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    assert oid_row is not None, f"{schema}.{table} does not exist"
    oid = oid_row[0]
    columns = conn.execute(
        "SELECT column_name, ordinal_position, data_type, udt_name, character_maximum_length,"
        " numeric_precision, numeric_scale, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    keys: dict[str, list[tuple[Any, ...]]] = {"p": [], "u": []}
    for kind, name, cols in conn.execute(
        "SELECT contype, conname, ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY k(n, o)"
        " JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n ORDER BY k.o)::text[]"
        " FROM pg_constraint WHERE conrelid = %s AND contype IN ('p', 'u') ORDER BY conname",
        (oid,),
    ):
        keys[kind].append((name, list(cols)))
    foreign_keys = {
        (tuple(cols), ref_table, tuple(ref_cols), action)
        for cols, ref_table, ref_cols, action in conn.execute(
            "SELECT ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY k(n, o)"
            "  JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n ORDER BY k.o)::text[],"
            " confrelid::regclass::text,"
            " ARRAY(SELECT a.attname FROM unnest(confkey) WITH ORDINALITY k(n, o)"
            "  JOIN pg_attribute a ON a.attrelid = confrelid AND a.attnum = k.n ORDER BY k.o)::text[],"
            " confdeltype::text FROM pg_constraint WHERE conrelid = %s AND contype = 'f'",
            (oid,),
        )
    }
    # The per-column pg_get_indexdef omits operator classes and ASC/DESC, so the whole
    # definition is compared too, with its schema-qualified table name taken out.
    indexes = {
        name: (unique, method, list(key_defs), predicate, re.sub(r" ON \S+ USING ", " ON - USING ", full))
        for name, unique, method, key_defs, predicate, full in conn.execute(
            "SELECT i.relname, x.indisunique, am.amname,"
            " ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)"
            "       FROM generate_series(1, x.indnkeyatts) k ORDER BY k),"
            " pg_get_expr(x.indpred, x.indrelid, true), pg_get_indexdef(x.indexrelid)"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam"
            " WHERE x.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            "  WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))",
            (oid,),
        )
    }
    comment_row = conn.execute("SELECT obj_description(%s, 'pg_class')", (oid,)).fetchone()
    column_comments = {
        str(name): comment
        for name, comment in conn.execute(
            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        )
    }
    return Catalog(
        columns=[tuple(r) for r in columns],
        keys=keys,
        foreign_keys=foreign_keys,
        indexes=indexes,
        table_comment=comment_row[0] if comment_row else None,
        column_comments=column_comments,
    )


def expected_foreign_keys(ref: RefTable) -> set[tuple[Any, ...]]:
    return {((col,), table, (ref_col,), _ON_DELETE[action]) for col, table, ref_col, action in ref.foreign_keys}


def expected_comments(ref: RefTable, rec: Reconstructions) -> dict[str, str | None]:
    comments = {c.name: c.comment for c in ref.columns}
    comments.update({a.column: a.comment for a in rec.added if a.table == ref.name})
    return comments


# ----------------------------------------------------------------------------------------
# Fixtures: a database with the seed migrations only, and the expected temp tables in it.
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_only_url(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated with 0001-0099 only (the gateway's 0100+ files left out)."""
    directory = tmp_path_factory.mktemp("seed_migrations")
    seed_files = [p for p in MIGRATIONS_DIR.iterdir() if p.name.endswith(".sql") and int(p.name[:4]) < 100]
    assert seed_files, "no seed migrations (0001-0099) found"
    for path in seed_files:
        (directory / path.name).write_bytes(path.read_bytes())
    url = create_database(pg_admin_url)
    migrate(url, directory)
    yield url
    drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def expected(seed_only_url: str, reference: dict[str, RefTable]) -> Iterator[tuple[Conn, str]]:
    """A connection holding the reconstructed reference as temp tables, and its temp schema."""
    rec = reconstructions()
    with psycopg.connect(seed_only_url) as conn:
        for table in TABLES:
            for statement in expected_ddl(reference[table], rec):
                conn.execute(statement.encode())
        row = conn.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()").fetchone()
        assert row is not None
        yield conn, str(row[0])
        conn.rollback()


def _pair(expected: tuple[Conn, str], table: str) -> tuple[Catalog, Catalog]:
    conn, temp_schema = expected
    return read_catalog(conn, temp_schema, f"ref_{table}"), read_catalog(conn, "public", table)


# ----------------------------------------------------------------------------------------
# The reference itself, and the reconstructions' evidence.
# ----------------------------------------------------------------------------------------
def test_reference_describes_every_table(reference: dict[str, RefTable]) -> None:
    missing = [t for t in TABLES if t not in reference or not reference[t].columns]
    assert not missing, f"tables absent from the reference or without columns: {missing}"


def test_reconstructions_are_still_needed(reference: dict[str, RefTable]) -> None:
    """Each reconstruction answers something the reference still shows; none is stale."""
    rec = reconstructions()
    for cut in rec.cuts:
        shown_col = next(c for c in reference[cut.table].columns if c.name == cut.column)
        assert getattr(shown_col, cut.field) == cut.shown, f"{cut.table}.{cut.column} no longer cut: {cut}"
    for add in rec.added:
        ref = reference[add.table]
        assert add.column not in {c.name for c in ref.columns}, f"{add.table}.{add.column} now listed"
        used = [i.name for i in ref.indexes if re.search(rf"\b{add.column}\b", f"{i.columns} {i.where}")]
        assert used, f"no index of {add.table} uses {add.column}: nothing evidences it"
    listed_twice = {
        i.name for t in TABLES for i in reference[t].indexes if [j.name for j in reference[t].indexes].count(i.name) > 1
    }
    assert listed_twice == rec.duplicate_indexes
    for table, key in rec.primary_keys.items():
        shown = {c.name: c for c in reference[table].columns}
        for col in key:
            # A key column is either listed or reconstructed. A single-column key is the
            # listed column shown "Nullable YES" that only a PRIMARY KEY makes NOT NULL.
            assert col in shown or any(a.table == table and a.column == col for a in rec.added)
            if len(key) == 1:
                assert shown[col].nullable, f"{table}.{col}: reference shows NOT NULL, no PK evidence"


def test_no_unexplained_cut_offs(reference: dict[str, RefTable]) -> None:
    """A type or default with unbalanced quotes or brackets must have a documented Cut."""
    explained = {(c.table, c.column, c.field) for c in reconstructions().cuts}

    def cut_off(text: str) -> bool:
        return text.count("'") % 2 == 1 or text.count("(") != text.count(")") or text.count("[") != text.count("]")

    found = {
        (t, c.name, field)
        for t in TABLES
        for c in reference[t].columns
        for field in ("type", "default")
        if (value := getattr(c, field)) and cut_off(value)
    }
    assert found == explained


def test_foreign_keys_stay_within_the_schema(reference: dict[str, RefTable]) -> None:
    """No FK had to be dropped: every one the 15 tables declare targets one of them."""
    outside = [(t, fk) for t in TABLES for fk in reference[t].foreign_keys if fk[1] not in TABLES]
    assert not outside


# ----------------------------------------------------------------------------------------
# Exact comparison on the seed-only database.
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", TABLES)
def test_columns(expected: tuple[Conn, str], table: str) -> None:
    want, got = _pair(expected, table)
    assert got.columns == want.columns


@pytest.mark.parametrize("table", TABLES)
def test_primary_and_unique_keys(expected: tuple[Conn, str], table: str) -> None:
    want, got = _pair(expected, table)
    assert [cols for _, cols in got.keys["p"]] == [cols for _, cols in want.keys["p"]]
    assert got.keys["u"] == want.keys["u"]


@pytest.mark.parametrize("table", TABLES)
def test_foreign_keys(expected: tuple[Conn, str], reference: dict[str, RefTable], table: str) -> None:
    _, got = _pair(expected, table)
    assert got.foreign_keys == expected_foreign_keys(reference[table])


@pytest.mark.parametrize("table", TABLES)
def test_indexes(expected: tuple[Conn, str], table: str) -> None:
    want, got = _pair(expected, table)
    assert got.indexes == want.indexes


@pytest.mark.parametrize("table", TABLES)
def test_comments(expected: tuple[Conn, str], reference: dict[str, RefTable], table: str) -> None:
    _, got = _pair(expected, table)
    assert got.table_comment == reference[table].comment
    assert got.column_comments == expected_comments(reference[table], reconstructions())


# ----------------------------------------------------------------------------------------
# The full migration chain (0100+ included) may add to the seed tables, never change them.
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", TABLES)
def test_later_migrations_keep_the_seed_definition(
    expected: tuple[Conn, str], reference: dict[str, RefTable], migrated_db_url: str, table: str
) -> None:
    conn, temp_schema = expected
    want = read_catalog(conn, temp_schema, f"ref_{table}")
    with psycopg.connect(migrated_db_url) as full:
        got = read_catalog(full, "public", table)
    assert got.columns[: len(want.columns)] == want.columns, "seed columns changed or reordered"
    assert [c for _, c in got.keys["p"]] == [c for _, c in want.keys["p"]]
    assert set(map(str, want.keys["u"])) <= set(map(str, got.keys["u"]))
    assert expected_foreign_keys(reference[table]) <= got.foreign_keys
    assert {n: got.indexes.get(n) for n in want.indexes} == want.indexes
    assert got.table_comment == reference[table].comment
    seed_comments = expected_comments(reference[table], reconstructions())
    assert {n: got.column_comments.get(n) for n in seed_comments} == seed_comments


_ONE_TEST = "test_reference_describes_every_table"


def test_a_missing_reference_fails_the_module_loudly() -> None:
    """Run this module with the reference pointed at nothing: it must fail, naming the file, not skip."""
    env = dict(os.environ, GATEWAY_SEED_REFERENCE="/nonexistent/shared/seed/schema-reference.md")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{_ONE_TEST}"],
        cwd=_CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    assert "seed schema reference is missing" in run.stdout
    assert "/nonexistent/shared/seed/schema-reference.md" in run.stdout
    assert "1 error" in run.stdout or "1 failed" in run.stdout
    assert "skipped" not in run.stdout.splitlines()[-1]


def test_the_reference_is_found_beside_a_folder_above_the_checkout(tmp_path: Path) -> None:
    reference = tmp_path / _REFERENCE_PATH
    reference.parent.mkdir(parents=True)
    reference.write_text("# reference", encoding="utf-8")
    assert find_reference(tmp_path / "wt" / "branch") == reference
    assert find_reference(tmp_path / "wt" / "branch", override="/nowhere/x.md") is None
