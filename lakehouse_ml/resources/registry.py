"""The model registry resource: the same git + DVC registry in both profiles; the DVC remote is a
local folder (local) or an S3 bucket with a configurable endpoint (prod). In prod the git repository
has a remote (``LAKEHOUSE_REGISTRY_GIT_URL``, any git URL): the local repository is a clone that each
step brings up to date when it opens the registry, so every pod sees the same versions and stages.
With an Iceberg catalog, every registration and stage change is appended to the registry's catalog
tables (``lakehouse_ml/registry/catalog_tables.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.iceberg import IcebergCatalog, local_iceberg, prod_iceberg

if TYPE_CHECKING:
    from lakehouse_ml.registry import ModelRegistry

# run tag -> how the run was started, for the stage history's ``trigger``
TRIGGER_TAGS = (
    ("dagster/schedule_name", "schedule"),
    ("dagster/sensor_name", "sensor"),
    ("dagster/from_automation_condition", "automation"),
)


def run_trigger(run_id: str | None, tags: dict[str, str]) -> str:
    """``schedule:<name>``, ``sensor:<name>``, ``automation`` or ``manual``, with the Dagster run id."""
    origin = next(
        (
            kind if kind == "automation" else f"{kind}:{tags[tag]}"
            for tag, kind in TRIGGER_TAGS
            if tags.get(tag)
        ),
        "manual",
    )
    return f"{origin} run {run_id}" if run_id else origin


class ModelRegistryResource(dg.ConfigurableResource):
    """Opens ``lakehouse_ml.registry.ModelRegistry``; S3 credentials come from the usual AWS_* env."""

    registry_dir: str
    remote_url: str
    endpoint_url: str | None = None
    git_url: str | None = None
    iceberg: IcebergCatalog | None = None
    _trigger: str = PrivateAttr(default="manual")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        self._trigger = run_trigger(run.run_id, dict(run.tags)) if run else "manual"

    @property
    def trigger(self) -> str:
        """What started the run that uses the registry (recorded with each stage change)."""
        return self._trigger

    def open(self) -> ModelRegistry:
        from lakehouse_ml.registry import ModelRegistry
        from lakehouse_ml.registry.catalog_tables import CatalogHook
        from lakehouse_ml.registry.model_registry import Remote

        registry = ModelRegistry(
            self.registry_dir,
            Remote(self.remote_url, self.endpoint_url),
            git_url=self.git_url,
            hooks=(CatalogHook(self.iceberg.catalog),) if self.iceberg else (),
        )
        registry.sync()
        return registry


def local_model_registry(settings: Settings) -> ModelRegistryResource:
    return ModelRegistryResource(
        registry_dir=str(settings.registry_dir),
        remote_url=str(settings.dvc_remote_dir),
        iceberg=local_iceberg(settings),
    )


def prod_model_registry(settings: Settings) -> ModelRegistryResource:
    return ModelRegistryResource(
        registry_dir=str(settings.registry_dir),
        remote_url=settings.dvc_remote_url,
        endpoint_url=settings.s3_endpoint,
        git_url=dg.EnvVar("LAKEHOUSE_REGISTRY_GIT_URL"),  # required: a pod's clone goes with the pod
        iceberg=prod_iceberg(settings),
    )
