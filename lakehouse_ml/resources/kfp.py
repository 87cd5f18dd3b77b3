"""Where the training pipeline runs: ``kfp.local`` in this environment (local) or a KFP cluster
through ``kfp.Client`` (prod). One interface: ``run(arguments) -> TrainingRun``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.image import DEFAULT_IMAGE, project_image
from lakehouse_ml.settings import Settings
from lakehouse_ml.storage import s3_endpoint, storage_options_for

if TYPE_CHECKING:
    from lakehouse_ml.training.pipeline import PipelineArguments, TrainingRun


class TrainingPipelineRunner(dg.ConfigurableResource):
    """``gold_uri`` is where the launcher reads gold tables for its checks before a run and for lineage."""

    lakehouse_home: str
    gold_uri: str
    s3_endpoint: str | None = None

    @property
    def storage_options(self) -> dict | None:
        return storage_options_for(self.gold_uri, self.s3_endpoint)

    def run(self, arguments: PipelineArguments) -> TrainingRun:
        raise NotImplementedError


class LocalKfpRunner(TrainingPipelineRunner):
    """Runs each component as a subprocess of this environment (``SubprocessRunner(use_venv=False)``)."""

    pipeline_root: str

    def run(self, arguments: PipelineArguments) -> TrainingRun:
        from lakehouse_ml.training.runner import run_local

        return run_local(Path(self.lakehouse_home), self.gold_uri, Path(self.pipeline_root), arguments)


class KfpClusterRunner(TrainingPipelineRunner):
    """Submits the compiled package to a KFP cluster, waits, and downloads the exported model folder.
    The client is created per run (its constructor calls the server)."""

    host: str
    namespace: str | None = None
    experiment: str = "churn-model"
    pipeline_root: str  # object storage (s3://...): component pods share nothing else
    export_root: str
    timeout_seconds: int = 3600
    image: str = DEFAULT_IMAGE
    secret_name: str = "lakehouse-ml"  # the Feast registry / Redis URLs and S3 credentials
    config_map_name: str = "lakehouse-ml"  # LAKEHOUSE_PROFILE, LAKEHOUSE_S3_ENDPOINT, LAKEHOUSE_GOLD_URI

    def run(self, arguments: PipelineArguments) -> TrainingRun:
        from lakehouse_ml.training.pipeline import PodConfig
        from lakehouse_ml.training.runner import run_on_cluster

        for name, uri in (("pipeline_root", self.pipeline_root), ("export_root", self.export_root)):
            if not uri.startswith("s3://"):
                raise dg.Failure(
                    f"{name} must be an s3:// URI on a cluster (pods share no disk), got {uri!r}"
                )

        return run_on_cluster(
            self.host,
            self.namespace,
            self.experiment,
            self.pipeline_root,
            self.lakehouse_home,
            self.gold_uri,
            self.export_root,
            arguments,
            self.timeout_seconds,
            self.storage_options,
            PodConfig(self.image, self.secret_name, self.config_map_name),
        )


def local_training_runner(settings: Settings) -> LocalKfpRunner:
    return LocalKfpRunner(
        lakehouse_home=str(settings.home),
        gold_uri=str(settings.gold_dir),
        pipeline_root=str(settings.kfp_root),
    )


def prod_training_runner(settings: Settings) -> KfpClusterRunner:
    return KfpClusterRunner(
        lakehouse_home=os.environ.get("LAKEHOUSE_KFP_LAKEHOUSE_HOME", "/lakehouse"),
        gold_uri=os.environ.get("LAKEHOUSE_GOLD_URI", "s3://lakehouse/gold"),
        host=os.environ.get("LAKEHOUSE_KFP_HOST", "http://ml-pipeline.kubeflow.svc:8888"),
        namespace=os.environ.get("LAKEHOUSE_KFP_NAMESPACE"),
        pipeline_root=os.environ.get("LAKEHOUSE_KFP_PIPELINE_ROOT", "s3://lakehouse/kfp"),
        export_root=os.environ.get("LAKEHOUSE_KFP_EXPORT_ROOT", "s3://lakehouse/kfp-exports"),
        s3_endpoint=s3_endpoint(),
        image=project_image(),
    )
