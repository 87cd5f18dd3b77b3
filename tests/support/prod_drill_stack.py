"""What the pod-isolation drill (tests/prod/test_drill.py) puts where the prod profile needs a cluster.

Each piece keeps the rule of the pods: no state on a disk that two steps share.

- SQL stand-in for Trino: DuckDB whose only copy of the database lives in S3 (one object). A session
  downloads it to the step's own scratch, works on it and, when it wrote, uploads it again; DuckDB reads
  the staged raw Parquet from S3 through an fsspec (s3fs) filesystem. The raw load sends it the same
  Trino statements ``TrinoWarehouse`` sends; it runs the ones it knows and fails on any other.
  dbt runs as dbt-duckdb (target ``local``) on the downloaded copy; afterwards the gold tables are
  written to the Iceberg catalog (what dbt-trino's Iceberg connector does), so ``publish_gold`` runs
  as in prod. The monitoring SQL runs on the copy, the prediction log through the Iceberg catalog.
- KFP: ``kfp.local`` inside the step, behind ``KfpClusterRunner``'s interface: the model folder is
  exported to ``LAKEHOUSE_KFP_EXPORT_ROOT`` and handed over as its ``s3://`` URI.
- KServe: the real ``KServeClient`` in every step talks (kubeconfig) to ``KubeApiStandIn``, an HTTP
  server in the test process over ``kserve_standin.StandInCustomObjectsApi`` (merge patches,
  generations, late reconcile, KServe's traffic rule); a revision is played by a real pod-mode server
  started from the applied manifest's command, with its model downloaded from the storage URI.
- The prediction spool: the ReadWriteMany claim is a folder the predictor processes and run steps mount.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.ingest import warehouse as backend
from lakehouse_ml.orchestration.dagster_private import OfflineDbtCliResource
from lakehouse_ml.platform.storage import s3_filesystem
from lakehouse_ml.resources.iceberg import SqlIcebergCatalog
from lakehouse_ml.resources.model_server import KServeModelServing
from lakehouse_ml.resources.query_engine import DuckDBQueryEngine, attach_warehouse, predictions_arrow
from lakehouse_ml.resources.training_pipeline import KfpClusterRunner
from lakehouse_ml.resources.warehouse import Warehouse

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd
    import pyarrow as pa

    from lakehouse_ml.training.pipeline import PipelineArguments, TrainingRun

GOLD_MODELS = ("fct_customer_features", "fct_churn_labels")
RAW_CATALOG = "hive"


@contextmanager
def database_copy(database_uri: str, endpoint: str | None, write: bool):
    """The SQL stand-in's database, downloaded to this process's scratch (TMPDIR); uploaded if ``write``."""
    fs = s3_filesystem(endpoint)
    key = database_uri.removeprefix("s3://")
    scratch = Path(tempfile.mkdtemp(prefix="sql-standin-"))
    local = scratch / "warehouse.duckdb"
    try:
        if fs.exists(key):
            fs.get_file(key, str(local))
        yield local
        if write:
            fs.put_file(str(local), key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _strip_catalog(name: str) -> str:
    return name.removeprefix(f"{RAW_CATALOG}.")


class TrinoStatements:
    """Runs the Trino statements of ``trino_load_raw`` on DuckDB; any other statement is an error."""

    def __init__(self, con, endpoint: str | None):
        self.con, self.endpoint, self.seen = con, endpoint, []
        con.register_filesystem(s3_filesystem(endpoint))

    def __call__(self, sql: str) -> list[tuple]:
        self.seen.append(sql)
        if match := re.fullmatch(r"CREATE SCHEMA IF NOT EXISTS (\S+)", sql):
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_strip_catalog(match[1])}")
            return []
        if match := re.fullmatch(
            r"CREATE TABLE (\S+) \((.+)\) WITH \(external_location = '(s3://[^']+)', format = 'PARQUET'\)",
            sql,
        ):
            columns = [column.split()[0] for column in match[2].split(", ")]
            self.con.execute(
                f"CREATE TABLE {_strip_catalog(match[1])} AS SELECT {', '.join(columns)} "
                f"FROM read_parquet('{match[3]}/*.parquet')"
            )
            return []
        if match := re.fullmatch(r"CREATE OR REPLACE VIEW (\S+) AS SELECT \* FROM (\S+)", sql):
            view, table = _strip_catalog(match[1]), _strip_catalog(match[2])
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}")
            return []
        if match := re.fullmatch(r"SHOW TABLES FROM (\S+) LIKE '([^']+)' ESCAPE '(.)'", sql):
            return self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "AND table_name LIKE ? ESCAPE ?",
                [_strip_catalog(match[1]), match[2], match[3]],
            ).fetchall()
        if match := re.fullmatch(r"DROP TABLE (\S+)", sql):
            self.con.execute(f"DROP TABLE {_strip_catalog(match[1])}")
            return []
        raise NotImplementedError(f"the drill's SQL stand-in does not run this Trino statement: {sql}")


class S3DuckDBWarehouse(Warehouse):
    """The warehouse on the SQL stand-in; raw loads go through the prod staging code."""

    database_uri: str
    staging_uri: str
    s3_endpoint: str | None = None

    def query(self, sql: str) -> pd.DataFrame:
        with database_copy(self.database_uri, self.s3_endpoint, write=False) as local:
            return backend.duckdb_query(str(local), sql)

    def gold_uri(self, model: str) -> str:
        return f"iceberg.gold.{model}"

    def load_raw(self, tables: Mapping[str, pa.Table]) -> None:
        import duckdb

        with database_copy(self.database_uri, self.s3_endpoint, write=True) as local:
            con = duckdb.connect(str(local))
            try:
                execute = TrinoStatements(con, self.s3_endpoint)
                backend.trino_load_raw(execute, tables, self.staging_uri, RAW_CATALOG, backend.new_load_id())
            finally:
                con.close()


class S3DuckDBDbt(OfflineDbtCliResource):
    """dbt-duckdb (target ``local``: ``$LAKEHOUSE_HOME/warehouse.duckdb``, the step's scratch) on a copy
    of the SQL stand-in's database; the gold tables go to the Iceberg catalog before the events are
    handed on, as dbt-trino leaves them in Iceberg."""

    database_uri: str
    s3_endpoint: str | None = None
    iceberg_uri: str
    iceberg_warehouse: str

    def cli(self, args, **kwargs):
        return _DbtSession(self, list(args), kwargs)

    def run_dbt(self, args, kwargs):
        return OfflineDbtCliResource.cli(self, args, **kwargs)


class _DbtSession:
    def __init__(self, resource: S3DuckDBDbt, args: list[str], kwargs: dict):
        self.resource, self.args, self.kwargs = resource, args, kwargs

    def stream(self):
        import duckdb

        resource = self.resource
        home = Path(os.environ["LAKEHOUSE_HOME"])
        (home / "gold").mkdir(parents=True, exist_ok=True)
        with database_copy(resource.database_uri, resource.s3_endpoint, write=True) as copy:
            local = home / "warehouse.duckdb"
            shutil.copyfile(copy, local)
            events = list(resource.run_dbt(self.args, self.kwargs).stream())
            shutil.copyfile(local, copy)
            catalog = SqlIcebergCatalog(
                uri=resource.iceberg_uri,
                warehouse=resource.iceberg_warehouse,
                s3_endpoint=resource.s3_endpoint,
            ).catalog()
            with duckdb.connect(str(local), read_only=True) as con:
                for model in GOLD_MODELS:
                    write_iceberg(catalog, f"gold.{model}", con.sql(f"select * from gold.{model}").arrow())
        yield from events


def write_iceberg(catalog, identifier: str, data) -> None:
    """Replace the Iceberg table's contents with ``data`` (created on first write)."""
    import pyarrow as pa
    from pyiceberg.exceptions import NoSuchTableError

    table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
    catalog.create_namespace_if_not_exists(identifier.split(".")[0])
    try:
        catalog.load_table(identifier).overwrite(table)
    except NoSuchTableError:
        catalog.create_table(identifier, schema=table.schema).append(table)


class S3DuckDBQueryEngine(DuckDBQueryEngine):
    """The monitoring SQL on a copy of the SQL stand-in's database; predictions from the Iceberg catalog."""

    warehouse_path: str = ""
    iceberg_dir: str = ""
    database_uri: str
    s3_endpoint: str | None = None
    iceberg_uri: str
    iceberg_warehouse: str

    def _predictions_arrow(self, since):
        catalog = SqlIcebergCatalog(
            uri=self.iceberg_uri, warehouse=self.iceberg_warehouse, s3_endpoint=self.s3_endpoint
        ).catalog()
        return predictions_arrow(catalog, self.predictions_table, since, self.iceberg_uri)

    def _attach_warehouse(self, con, wanted: set[str]) -> dict[str, str]:
        # the copy must outlive the query: it goes with the step's scratch (TMPDIR)
        with database_copy(self.database_uri, self.s3_endpoint, write=False) as local:
            kept = Path(tempfile.mkdtemp(prefix="sql-query-")) / "warehouse.duckdb"
            shutil.copyfile(local, kept)
        return attach_warehouse(con, str(kept), wanted)


class KfpLocalRunner(KfpClusterRunner):
    """``KfpClusterRunner`` whose cluster is ``kfp.local`` in the step's own process tree."""

    def run(self, arguments: PipelineArguments) -> TrainingRun:
        from lakehouse_ml.training.runner import run_local

        for name, uri in (("pipeline_root", self.pipeline_root), ("export_root", self.export_root)):
            if not uri.startswith("s3://"):
                raise dg.Failure(
                    f"{name} must be an s3:// URI on a cluster (pods share no disk), got {uri!r}"
                )
        home = Path(os.environ["LAKEHOUSE_HOME"])
        run = run_local(home, self.gold_uri, Path(tempfile.mkdtemp(prefix="kfp-local-")), arguments)
        export = f"{self.export_root.rstrip('/')}/{run.run_id}/model"
        s3_filesystem(self.s3_endpoint).put(f"{run.model_dir}/", export.removeprefix("s3://"), recursive=True)
        return replace(run, model_uri=export)


class SpoolMountedKServe(KServeModelServing):
    """``KServeModelServing`` with the prediction spool's claim mounted at ``spool_mount``."""

    spool_mount: str

    def spool_dir(self) -> Path | None:
        return Path(self.spool_mount)


def drill_resources(settings) -> dict:
    """The prod profile's resources with the stand-ins above where a cluster would be."""
    from lakehouse_ml.resources import build_resources

    resources = build_resources(settings)
    stand_in = {
        "database_uri": os.environ["DRILL_SQL_DATABASE_URI"],
        "s3_endpoint": settings.s3_endpoint,
    }
    iceberg = {
        "iceberg_uri": os.environ["LAKEHOUSE_ICEBERG_SQL_URI"],
        "iceberg_warehouse": settings.iceberg_warehouse,
    }
    prod_dbt = resources["dbt"]
    prod_runner = resources["training_pipeline"]
    prod_serving = resources["model_server"]
    return {
        **resources,
        "warehouse": S3DuckDBWarehouse(**stand_in, staging_uri=f"{settings.raw_uri.rstrip('/')}/_validated"),
        "dbt": S3DuckDBDbt(
            project_dir=prod_dbt.project_dir,
            target="local",
            dbt_executable=prod_dbt.dbt_executable,
            **stand_in,
            **iceberg,
        ),
        "query_engine": S3DuckDBQueryEngine(**stand_in, **iceberg),
        "training_pipeline": KfpLocalRunner(**prod_runner.model_dump()),
        "model_server": SpoolMountedKServe(
            **{**prod_serving.model_dump(), "ready_poll_seconds": 0.2, "ready_timeout_seconds": 300},
            spool_mount=os.environ["DRILL_SPOOL_DIR"],
        ),
    }


# --- the Kubernetes API of the cluster, in the test process ------------------------------------------

ISVC_PATH = re.compile(r"/apis/serving\.kserve\.io/(\w+)/namespaces/([^/]+)/inferenceservices(?:/([^/?]+))?")


class RevisionPods(dict):
    """``{model version: URL}`` of the revisions' servers; a version asked for the first time is
    started as KServe would: its storage URI downloaded (storage initializer), the container's command
    run with this machine's paths and a free port."""

    def __init__(self, root: Path, endpoint: str, spool_dir: Path):
        super().__init__()
        self.root, self.endpoint, self.spool_dir = root, endpoint, spool_dir
        self.api = None  # set by KubeApiStandIn: the manifest of the version is read from it
        self.processes: list[subprocess.Popen] = []

    def __missing__(self, version: str) -> str:
        from tests.support.ports import free_port

        manifest = next(
            obj
            for obj in self.api.objects.values()
            if obj["metadata"]["labels"].get("lakehouse-ml/model-version") == version
        )
        predictor = manifest["spec"]["predictor"]
        storage_uri = predictor["storageUris"][0]["uri"]
        model_dir = self.root / version / "model"
        model_dir.mkdir(parents=True)
        fs = s3_filesystem(self.endpoint)
        for remote in fs.ls(storage_uri.removeprefix("s3://"), detail=False):
            fs.get_file(remote, str(model_dir / Path(remote).name))
        container = predictor["containers"][0]
        port = free_port()
        local = {
            "--model_dir": str(model_dir),
            "--http_port": str(port),
            "--grpc_port": str(free_port()),
            "--bind_host": "127.0.0.1",
            "--spool_dir": str(self.spool_dir),
        }
        args = [
            f"{arg.split('=', 1)[0]}={local[arg.split('=', 1)[0]]}" if arg.split("=", 1)[0] in local else arg
            for arg in container["args"]
        ]
        if not any(arg.startswith("--bind_host") for arg in args):
            args.append("--bind_host=127.0.0.1")
        log = (self.root / version / "server.log").open("w")
        process = subprocess.Popen(
            [sys.executable, *container["command"][1:], *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root / version,
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError as err:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the {version} predictor exited: {self.root / version / 'server.log'}"
                    ) from err
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {version} predictor did not get ready") from None
                time.sleep(0.3)
        self[version] = url
        return url

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


class KubeApiStandIn:
    """The InferenceService endpoints of a Kubernetes API server, over ``StandInCustomObjectsApi``."""

    def __init__(self, revisions: RevisionPods):
        from tests.support.standins.kserve_standin import StandInCustomObjectsApi

        self.api = StandInCustomObjectsApi(revisions)
        revisions.api = self.api
        self.revisions = revisions
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                from kubernetes.client.rest import ApiException

                match = ISVC_PATH.fullmatch(self.path.split("?")[0])
                if not match:
                    self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    return
                version, namespace, name = match.groups()
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                group, plural = "serving.kserve.io", "inferenceservices"
                try:
                    with stand_in.lock:
                        if method == "GET":
                            result = stand_in.api.get_namespaced_custom_object(
                                group, version, namespace, plural, name
                            )
                        elif method == "POST":
                            result = stand_in.api.create_namespaced_custom_object(
                                group, version, namespace, plural, body
                            )
                        else:
                            result = stand_in.api.patch_namespaced_custom_object(
                                group, version, namespace, plural, name, body
                            )
                except ApiException as err:
                    self._answer(err.status, {"kind": "Status", "code": err.status, "reason": err.reason})
                    return
                self._answer(201 if method == "POST" else 200, result)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "drill", "cluster": {"server": self.url}}],
            "users": [{"name": "drill", "user": {"token": "drill"}}],
            "contexts": [{"name": "drill", "context": {"cluster": "drill", "user": "drill"}}],
            "current-context": "drill",
        }
        path.write_text(json.dumps(config))
        return path

    def traffic(self, namespace: str, name: str) -> dict[str, int]:
        with self.lock:
            return self.api.traffic(namespace, name)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.revisions.stop()
