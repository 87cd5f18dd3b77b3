"""The model registry's metadata as Iceberg tables ``models.model_versions`` and
``models.model_stage_history`` (namespace from platform/catalog_names.py), in the prediction log's catalog.

The git + DVC registry is the source of truth: every row is read from it (version tags, their
``metrics.json``, ``params.json``, ``lineage.json``; stage tags with their date and message), so the tables
appended after each change (``CatalogHook``) and the tables rebuilt from scratch (``rebuild``) hold the same
rows. A row the hook missed (catalog down) is appended by the next change or by ``lakehouse-ml registry
rebuild-catalog``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, TRAINING_SET_FILE
from lakehouse_ml.platform.catalog_names import create_table, identifier
from lakehouse_ml.registry.gitcmd import git
from lakehouse_ml.registry.model_registry import ARTIFACT, STAGE_TAG, VERSION_TAG, ModelRegistry

VERSIONS = "model_versions"
STAGE_HISTORY = "model_stage_history"
METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "brier")
TRAILER = re.compile(r"^(Reason|Trigger): ?(.*)$", re.MULTILINE)

# Each version with the stage it holds now (none once another version took its stage). One SQL text for
# DuckDB and Trino; ``{model_versions}`` and ``{model_stage_history}`` are the tables' names in the engine.
MODELS_SQL = """
SELECT v.*, s.stage, s.changed_at AS stage_since
FROM {model_versions} v
LEFT JOIN (
    SELECT h.version, h.stage, h.changed_at,
           ROW_NUMBER() OVER (PARTITION BY h.version ORDER BY h.event DESC) AS newest
    FROM {model_stage_history} h
    JOIN (SELECT stage, MAX(event) AS event FROM {model_stage_history} GROUP BY stage) holder
      ON holder.stage = h.stage AND holder.event = h.event
) s ON s.version = v.version AND s.newest = 1
"""


def versions_schema():
    from pyiceberg.schema import Schema
    from pyiceberg.types import BooleanType, DoubleType, LongType, NestedField, StringType, TimestamptzType

    text = (
        "model_family",
        "params",
        "metrics",
        "model_sha256",
        "training_set_sha256",
        "evaluation_set_sha256",
    )
    text_after = ("gold_sha256", "code_revision")
    fields = [
        NestedField(1, "version", StringType(), required=True),
        NestedField(2, "version_number", LongType(), required=True),
        NestedField(3, "created_at", TimestamptzType(), required=True),
        *(NestedField(4 + i, name, StringType(), required=False) for i, name in enumerate(text)),
        NestedField(10, "threshold", DoubleType(), required=False),
        *(NestedField(11 + i, name, DoubleType(), required=False) for i, name in enumerate(METRICS)),
        *(NestedField(16 + i, name, StringType(), required=False) for i, name in enumerate(text_after)),
        NestedField(18, "code_dirty", BooleanType(), required=False),
        NestedField(19, "kfp_run_id", StringType(), required=False),
        NestedField(20, "feature_service", StringType(), required=False),
        NestedField(21, "training_rows", LongType(), required=False),
    ]
    return Schema(*fields, identifier_field_ids=[1])


def stage_history_schema():
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

    return Schema(
        NestedField(1, "version", StringType(), required=True),
        NestedField(2, "stage", StringType(), required=True),
        NestedField(3, "event", LongType(), required=True),
        NestedField(4, "changed_at", TimestamptzType(), required=True),
        NestedField(5, "reason", StringType(), required=False),
        NestedField(6, "trigger", StringType(), required=False),
        identifier_field_ids=[3],
    )


def _tags(registry: ModelRegistry, pattern: str) -> list[dict]:
    """Annotated tags matching ``pattern``: name, tag date, peeled commit, message."""
    fields = "%(refname:strip=2)%00%(taggerdate:unix)%00%(*objectname)%00%(contents)%1e"
    out = git(registry.root, "for-each-ref", f"--format={fields}", f"refs/tags/{pattern}")
    tags = []
    for record in filter(None, (r.strip("\n") for r in out.split("\x1e"))):
        name, when, commit, message = record.split("\x00", 3)
        tags.append(
            {"name": name, "at": datetime.fromtimestamp(int(when), UTC), "commit": commit, "message": message}
        )
    return tags


def version_rows(registry: ModelRegistry) -> list[dict]:
    """One row per registered version, from its tag and committed JSON files."""
    rows = []
    for tag in _tags(registry, f"{ARTIFACT}@v*"):
        match = VERSION_TAG.match(tag["name"])
        if not match:
            continue
        version = f"v{match.group(1)}"
        metrics, params, lineage = (
            registry.metrics(version),
            registry.params(version),
            registry.lineage(version),
        )
        hashes = lineage.get("artifact_sha256", {})
        revision = lineage.get("project_revision") or {}
        gold = {name: stats.get("sha256") for name, stats in (lineage.get("gold_tables") or {}).items()}
        rows.append(
            {
                "version": version,
                "version_number": int(match.group(1)),
                "created_at": tag["at"],
                "model_family": params.get("model_family"),
                "params": json.dumps(params.get("params"), sort_keys=True),
                "metrics": json.dumps(metrics, sort_keys=True),
                "model_sha256": lineage.get("model_sha256"),
                "training_set_sha256": hashes.get(TRAINING_SET_FILE),
                "evaluation_set_sha256": hashes.get(EVALUATION_SET_FILE),
                "threshold": params.get("threshold"),
                **{name: _number(metrics.get(name)) for name in METRICS},
                "gold_sha256": json.dumps(gold, sort_keys=True),
                "code_revision": revision.get("commit"),
                "code_dirty": revision.get("dirty"),
                "kfp_run_id": lineage.get("kfp_run_id"),
                "feature_service": lineage.get("feature_service"),
                "training_rows": lineage.get("training_rows"),
            }
        )
    return sorted(rows, key=lambda row: row["version_number"])


def _number(value) -> float | None:
    return None if value is None else float(value)


def stage_rows(registry: ModelRegistry) -> list[dict]:
    """One row per stage assignment (stage tag), oldest first, with the reason and trigger it recorded."""
    versions = {
        tag["commit"]: tag["name"]
        for tag in _tags(registry, f"{ARTIFACT}@v*")
        if VERSION_TAG.match(tag["name"])
    }
    rows = []
    for tag in _tags(registry, f"{ARTIFACT}#*"):
        match = STAGE_TAG.match(tag["name"])
        if not match or tag["commit"] not in versions:
            continue
        trailers = dict(TRAILER.findall(tag["message"]))
        rows.append(
            {
                "version": versions[tag["commit"]].removeprefix(f"{ARTIFACT}@"),
                "stage": match.group(1),
                "event": int(match.group(2)),
                "changed_at": tag["at"],
                "reason": trailers.get("Reason", ""),
                "trigger": trailers.get("Trigger", ""),
            }
        )
    return sorted(rows, key=lambda row: row["event"])


TABLES = {
    VERSIONS: (versions_schema, version_rows, "version"),
    STAGE_HISTORY: (stage_history_schema, stage_rows, "event"),
}


def _arrow(table, rows: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=table.schema().as_arrow())


def metadata_table(catalog, name: str):
    """``models.<name>`` of ``catalog``, created on first use."""
    return create_table(catalog, name, TABLES[name][0]())


def sync(catalog, registry: ModelRegistry) -> dict[str, int]:
    """Append the registry's rows the tables lack (by version, by stage event); rows appended per table."""
    appended = {}
    for name, (_, rows_of, key) in TABLES.items():
        table = metadata_table(catalog, name)
        held = set(table.scan(selected_fields=(key,)).to_arrow()[key].to_pylist())
        missing = [row for row in rows_of(registry) if row[key] not in held]
        if missing:
            table.append(_arrow(table, missing))
        appended[name] = len(missing)
    return appended


def rebuild(catalog, registry: ModelRegistry) -> dict[str, int]:
    """Replace both tables' rows with the registry's (one overwrite commit each); rows written per table."""
    written = {}
    for name, (_, rows_of, _) in TABLES.items():
        table = metadata_table(catalog, name)
        rows = rows_of(registry)
        table.overwrite(_arrow(table, rows))
        written[name] = len(rows)
    return written


def read(catalog, name: str):
    """A metadata table as Arrow."""
    return catalog.load_table(identifier(name)).scan().to_arrow()


class CatalogHook:
    """A ``RegistryHook`` that appends the new rows to the catalog tables after each registry change. A
    catalog failure is logged, not raised: the change is already in the registry, and the next change
    (or ``lakehouse-ml registry rebuild-catalog``) appends the row."""

    def __init__(self, open_catalog: Callable[[], object]):
        self.open_catalog = open_catalog

    def changed(self, registry: ModelRegistry) -> None:
        try:
            sync(self.open_catalog(), registry)
        except Exception:
            logging.getLogger(__name__).exception(
                "the model registry changed but its catalog tables (%s, %s) were not updated; "
                "`lakehouse-ml registry rebuild-catalog` rebuilds them from the registry",
                identifier(VERSIONS),
                identifier(STAGE_HISTORY),
            )


DEFAULT_QUERY = "SELECT version, roc_auc, stage FROM models ORDER BY version_number"


def query(catalog, sql: str = DEFAULT_QUERY):
    """Run ``sql`` in DuckDB over ``model_versions``, ``model_stage_history`` and the view ``models`` (each
    version with its current stage, ``MODELS_SQL``), read from ``catalog`` through pyiceberg (DuckDB's
    iceberg extension cannot be installed offline). Returns a pandas DataFrame."""
    import duckdb
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name in TABLES:
            try:
                con.register(name, read(catalog, name))
            except (NoSuchTableError, NoSuchNamespaceError) as err:
                raise LookupError(
                    f"{identifier(name)} is not in the catalog yet: register a model, or run "
                    "`lakehouse-ml registry rebuild-catalog`"
                ) from err
        con.execute(
            "CREATE VIEW models AS "
            + MODELS_SQL.format(model_versions=VERSIONS, model_stage_history=STAGE_HISTORY)
        )
        return con.execute(sql).df()
    finally:
        con.close()
