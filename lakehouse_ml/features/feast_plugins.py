"""Feast extension classes named in ``feast_repo/feature_store.yaml``.

Paths. Feast expands ``$VARS`` in feature_store.yaml with ``os.path.expandvars``, which has no default
syntax: an unset ``LAKEHOUSE_HOME`` would stay a literal ``$LAKEHOUSE_HOME`` path. These subclasses
of Feast's sqlite online store and file registry store default their paths to
``$LAKEHOUSE_HOME/feast/...`` (``LAKEHOUSE_HOME`` defaulting to ``.lakehouse``; a relative value is
taken from the project root, because ``feast apply`` changes directory into the repo) so that the
``feast`` CLI works on its own. Explicit ``path`` values in the YAML still win.

Offline store. Feast's duckdb store writes the feature view's ttl into its point-in-time join as an
ibis interval literal. ibis 12's DuckDB compiler gives sqlglot a plain string as the interval unit,
which the compiled sqlglot (``sqlglotc``, pulled in by dagster-dbt's ``sqlglot[rs]``) rejects:
"TypeError: ... Expr or None object expected; got str". (Feast's other hook, an SQL cut-off through
``Table.sql``, fails on duckdb 2's missing ``fetch_arrow_table``.) ``LakehouseDuckDBOfflineStore``
makes the compiler wrap the unit in ``sge.Var`` as ibis's base compiler does (a process-wide fix of
that one method, applied on first use), then joins as Feast does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.infra.registry.file import FileRegistryStore
from feast.repo_config import RegistryConfig
from pydantic import Field, StrictStr

from lakehouse_ml.settings import project_root

ONLINE_STORE_TYPE = "lakehouse_ml.features.feast_plugins.LakehouseSqliteOnlineStore"


def default_feast_dir() -> Path:
    home = Path(os.environ.get("LAKEHOUSE_HOME") or ".lakehouse").expanduser()
    if not home.is_absolute():
        home = project_root() / home
    return home.resolve() / "feast"


def _default_online_path() -> str:
    return str(default_feast_dir() / "online.db")


class LakehouseSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    type: Literal["lakehouse_ml.features.feast_plugins.LakehouseSqliteOnlineStore"] = ONLINE_STORE_TYPE
    path: StrictStr = Field(default_factory=_default_online_path)


class LakehouseSqliteOnlineStore(SqliteOnlineStore):
    """Feast's sqlite online store; only the default path differs."""


class LakehouseRegistryStore(FileRegistryStore):
    """Feast's file registry store at ``$LAKEHOUSE_HOME/feast/registry.db`` unless a path is given."""

    def __init__(self, registry_config: RegistryConfig, repo_path: Path):
        if not registry_config.path:
            registry_config = registry_config.model_copy(
                update={"path": str(default_feast_dir() / "registry.db")}
            )
        Path(registry_config.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(registry_config, repo_path)


def _wrap_interval_units() -> None:
    from ibis.backends.sql.compilers.duckdb import DuckDBCompiler
    from sqlglot import expressions as sge

    original = DuckDBCompiler.visit_NonNullLiteral
    if getattr(original, "wraps_interval_units", False):
        return

    def visit_non_null_literal(self, op, *, value, dtype):
        if dtype.is_interval() and dtype.unit.short != "ns":
            return sge.Interval(this=sge.convert(str(value)), unit=sge.Var(this=dtype.resolution.upper()))
        return original(self, op, value=value, dtype=dtype)

    visit_non_null_literal.wraps_interval_units = True
    DuckDBCompiler.visit_NonNullLiteral = visit_non_null_literal


class LakehouseDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: StrictStr = "lakehouse_ml.features.feast_plugins.LakehouseDuckDBOfflineStore"


class LakehouseDuckDBOfflineStore(DuckDBOfflineStore):
    """Feast's duckdb offline store, with ttl intervals that compile (see the module docstring)."""

    @staticmethod
    def get_historical_features(*args, **kwargs):
        _wrap_interval_units()
        return DuckDBOfflineStore.get_historical_features(*args, **kwargs)
