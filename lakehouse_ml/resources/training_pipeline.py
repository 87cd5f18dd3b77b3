"""Where the training pipeline runs: ``kfp.local`` in this environment (local) or a KFP cluster
through ``kfp.Client`` (prod). One interface: ``run(arguments) -> TrainingRun``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.platform.k8s_names import CONFIG_MAP_NAME, SECRET_NAME
from lakehouse_ml.platform.settings import DEFAULT_IMAGE, GOLD_URI_REQUIRED, Settings
from lakehouse_ml.platform.storage import storage_options_for

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
    tuner: str = "kfp"  # "katib": each family's search runs as a Katib Experiment (LAKEHOUSE_TUNING)
    image: str = DEFAULT_IMAGE
    secret_name: str = SECRET_NAME  # the Feast registry / Redis URLs and S3 credentials
    config_map_name: str = CONFIG_MAP_NAME  # LAKEHOUSE_PROFILE, LAKEHOUSE_S3_ENDPOINT, LAKEHOUSE_GOLD_URI

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if not self.gold_uri:
            raise dg.Failure(GOLD_URI_REQUIRED)

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
            self.tuner,
            self.s3_endpoint,
        )


def local_training_runner(settings: Settings) -> LocalKfpRunner:
    return LocalKfpRunner(
        lakehouse_home=str(settings.home),
        gold_uri=str(settings.gold_dir),
        pipeline_root=str(settings.kfp_root),
    )


def prod_training_runner(settings: Settings) -> KfpClusterRunner:
    return KfpClusterRunner(
        lakehouse_home=settings.kfp_lakehouse_home,
        gold_uri=settings.gold_uri or "",
        host=settings.kfp_host,
        namespace=settings.kfp_namespace,
        pipeline_root=settings.kfp_pipeline_root,
        export_root=settings.kfp_export_root,
        s3_endpoint=settings.s3_endpoint,
        tuner=settings.tuning,
        image=settings.image,
    )
