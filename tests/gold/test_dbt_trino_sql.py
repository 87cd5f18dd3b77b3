"""The dbt project under dbt-trino, checked offline: ``dbt build --target prod`` runs against a stand-in for
the Trino server (tests/support/standins/trino_dbt_offline.py: dbt-trino's own macros and materializations
render every statement; the stand-in answers introspection), and every statement it sends parses with
sqlglot's Trino dialect.

What this catches: DuckDB-only syntax or functions in the models, hooks and tests (``range``, ``copy``, ...),
and the gold incremental path (window delete, recorded window, column-listed insert) as Trino would receive
it. What it cannot: type errors Trino finds only when it analyses a statement (a real Trino is not to be had
here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two in-process dbt builds for the prod target, 15-40 s each

GOLD = ("fct_customer_features", "fct_churn_labels")
RECORD = "insert into gold.gold_build_windows (model, window_start) values ( '{model}', {start} )"
WINDOW = "cast(date_add('day', 20000, date '1970-01-01') as timestamp(6))"  # the stand-in's window start


def trino_problems(sql: str) -> list[str]:
    """Why Trino would not take ``sql``: a parse error, functions unknown to Trino, or DuckDB's COPY."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except sqlglot.errors.ParseError as err:
        return [f"does not parse: {err}"]
    problems = [f"unknown function {node.name}" for node in tree.find_all(exp.Anonymous)]
    if isinstance(tree, exp.Copy):
        problems.append("COPY is DuckDB's")
    return problems


def _statements(tmp_path_factory, state: str) -> list[str]:
    root = tmp_path_factory.mktemp(f"trino-{state}")
    out = root / "statements.json"
    env = {**os.environ, "LAKEHOUSE_HOME": str(root / "home")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.standins.trino_dbt_offline",
            state,
            str(root / "target"),
            str(out),
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return json.loads(out.read_text())


def _flat(statements: list[str]) -> list[str]:
    """Statements without dbt's query comment and with line comments dropped, on one line each."""
    lines = (re.sub(r"/\*.*?\*/", "", s, flags=re.S).splitlines() for s in statements)
    return [" ".join(" ".join(line.split("--")[0] for line in s).split()) for s in lines]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> list[str]:
    return _statements(tmp_path_factory, "fresh")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> list[str]:
    return _statements(tmp_path_factory, "built")


@pytest.mark.parametrize("state", ["fresh", "built"])
def test_every_statement_dbt_trino_sends_parses_as_trino(state, request):
    statements = request.getfixturevalue(state)
    assert len(statements) > 40
    problems = {
        flat[:120]: trino_problems(sql) for sql, flat in zip(statements, _flat(statements), strict=True)
    }
    assert {sql: found for sql, found in problems.items() if found} == {}


def test_the_check_rejects_the_duckdb_branches_of_the_macros():
    assert trino_problems("select unnest(range(1, 3, 7)) as day_number from t") == ["unknown function range"]
    assert trino_problems("copy (select * from t) to 'x.parquet' (format parquet)") == ["COPY is DuckDB's"]
    assert trino_problems("select from where") != []


def test_a_first_build_creates_partitioned_gold_tables_and_records_a_full_window(fresh):
    fresh = _flat(fresh)
    for model in GOLD:
        [create] = [s for s in fresh if s.startswith(f'create table "iceberg"."gold"."{model}"')]
        assert "WITH (partitioning = ARRAY['day(event_timestamp)'])" in create
        assert RECORD.format(model=model, start="cast(null as timestamp(6))") in fresh
    assert not any(s.startswith('delete from "iceberg"."gold"') for s in fresh)


def test_an_incremental_build_deletes_and_inserts_only_its_window_and_its_tests_read_it(built):
    built = _flat(built)
    for model in GOLD:
        relation = f'"iceberg"."gold"."{model}"'
        delete = built.index(f"delete from {relation} where event_timestamp >= {WINDOW}")
        record = built.index(RECORD.format(model=model, start=WINDOW))
        [insert] = [n for n, s in enumerate(built) if s.startswith(f"insert into {relation} (")]
        [view] = [
            s for s in built if s.startswith(f'create or replace view "iceberg"."gold"."{model}__dbt_tmp"')
        ]
        assert record < delete < insert
        assert ">= 20000" in view  # the model selects only the window's snapshot days
    gold_tests = [s for s in built if s.startswith("select count(*) as failures") and '"iceberg"."gold"' in s]
    assert len(gold_tests) == 17
    assert all("from gold.gold_build_windows where model = 'fct_" in s for s in gold_tests)
