"""Launch the training pipeline: in this environment through ``kfp.local``, or on a KFP cluster.

Both return a ``TrainingRun`` whose ``model_dir`` is a local model folder (ARCHITECTURE "Model
artifact"). kfp is imported inside the functions; ``kfp.Client`` is created only when a run is
submitted, because its constructor calls the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse_ml.model_artifact import METADATA_FILE

if TYPE_CHECKING:
    from lakehouse_ml.training.pipeline import PipelineArguments, PodConfig, TrainingRun


def _metrics(model_dir: Path) -> dict:
    return json.loads((model_dir / METADATA_FILE).read_text())["metrics"]


@contextlib.contextmanager
def bytecode_cache(cache_dir: Path) -> Iterator[None]:
    """Let component processes share a bytecode cache outside the source tree.

    With PYTHONDONTWRITEBYTECODE set and no .pyc files in the environment, every interpreter that
    starts a component (the shared worker, or each component's own process) recompiles kfp, pandas
    and scikit-learn (about 4x the import time).
    """
    saved = {key: os.environ.get(key) for key in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache_dir)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_local(
    lakehouse_home: Path,
    gold_uri: str,
    pipeline_root: Path,
    arguments: PipelineArguments,
    one_interpreter: bool = True,
) -> TrainingRun:
    """Run the pipeline through ``kfp.local``. The components, run one after the other, share one warm
    interpreter (``component_worker``); ``one_interpreter=False`` gives each its own process, as
    kfp.local does by itself (the benchmarks' baseline)."""
    import kfp.local

    from lakehouse_ml.training.component_worker import FEAST_PRELOAD, PRELOAD, shared_interpreter
    from lakehouse_ml.training.pipeline import TrainingRun, churn_training_pipeline, compile_package

    pipeline_root.mkdir(parents=True, exist_ok=True)
    preload = PRELOAD + (FEAST_PRELOAD if arguments.feature_source == "feast" else ())
    shared = shared_interpreter(preload) if one_interpreter else contextlib.nullcontext()
    with warnings.catch_warnings(), bytecode_cache(pipeline_root / ".pycache"), shared:
        package = compile_package(pipeline_root / "churn_training_pipeline.yaml")
        kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
        # the components name the project image for clusters; locally they run in this environment
        warnings.filterwarnings("ignore", message=".*non-Python base image", category=RuntimeWarning)
        run = churn_training_pipeline(
            lakehouse_home=str(lakehouse_home), gold_uri=gold_uri, **dataclasses.asdict(arguments)
        )
    model_dir = Path(run.outputs["model"].path)
    compute = json.loads(run.outputs["metrics"].metadata["compute_seconds"])
    # Outputs land in <root>/<pipeline>-<timestamp>/<task>/<output>: the run folder is the run id.
    run_dir = model_dir.parents[1]
    return TrainingRun(run_dir.name, str(run_dir), model_dir, _metrics(model_dir), package, compute)


def run_on_cluster(
    host: str,
    namespace: str | None,
    experiment: str,
    pipeline_root: str,
    lakehouse_home: str,
    gold_uri: str,
    export_root: str,
    arguments: PipelineArguments,
    timeout_seconds: int,
    storage_options: dict | None = None,
    pod: PodConfig | None = None,
    tuner: str = "kfp",
    s3_endpoint: str | None = None,
) -> TrainingRun:
    """Submit the compiled package (component pods configured by ``pod``), wait, and download the
    model folder the final task exported.

    With ``tuner="katib"`` the tuning steps create Katib Experiments in the run's namespace."""
    import fsspec
    import kfp

    from lakehouse_ml.training.pipeline import TrainingRun, compile_package

    work = Path(tempfile.mkdtemp(prefix="churn-training-"))
    package = compile_package(work / "churn_training_pipeline.yaml", tuner, pod)
    run_name = f"churn-training-{time.strftime('%Y%m%d-%H%M%S')}"
    export_uri = f"{export_root.rstrip('/')}/{run_name}"
    client = kfp.Client(host=host, namespace=namespace)
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments={
            "lakehouse_home": lakehouse_home,
            "gold_uri": gold_uri,
            "export_uri": export_uri,
            "katib_namespace": namespace or "",
            "s3_endpoint": s3_endpoint or "",
            **dataclasses.asdict(arguments),
        },
        run_name=run_name,
        experiment_name=experiment,
        namespace=namespace,
        pipeline_root=pipeline_root,
        enable_caching=True,
    )
    finished = client.wait_for_run_completion(result.run_id, timeout=timeout_seconds)
    state = str(getattr(finished, "state", ""))
    if state.upper() != "SUCCEEDED":
        raise RuntimeError(f"KFP run {result.run_id} ({run_name}) ended in state {state or 'unknown'}")
    fs, root = fsspec.core.url_to_fs(f"{export_uri}/model", **(storage_options or {}))
    model_dir = work / "model"
    model_dir.mkdir()
    for remote in fs.ls(root, detail=False):
        fs.get_file(remote, str(model_dir / Path(remote).name))
    return TrainingRun(
        result.run_id, pipeline_root, model_dir, _metrics(model_dir), package, model_uri=f"{export_uri}/model"
    )


def train_in_process(lakehouse_home: Path, gold_uri: str, arguments: PipelineArguments, out: Path) -> dict:
    """The pipeline's steps in this process, without KFP: the baseline for benchmarks and tests.

    Returns the model folder's metadata (``out`` holds the same files a pipeline run produces).
    """
    from lakehouse_ml.training.dataset import build_training_data, split_config
    from lakehouse_ml.training.models import FAMILIES, train_and_evaluate, tune

    data = build_training_data(
        Path(lakehouse_home), gold_uri, arguments.feature_source, split_config(arguments)
    )
    candidates = [
        tune(family, data.train, data.feature_names, data.categorical_features, arguments.seed)
        for family in FAMILIES
    ]
    return train_and_evaluate(
        data.train,
        data.evaluation,
        candidates,
        data.categorical_features,
        data.feature_service,
        arguments.threshold,
        arguments.seed,
        out,
    )
