"""The model registry resource: the same git + DVC registry in both profiles; the DVC remote is a
local folder (local) or an S3 bucket with a configurable endpoint (prod). In prod the git repository
has a remote (``LAKEHOUSE_REGISTRY_GIT_URL``, any git URL): the local repository is a clone that each
step brings up to date when it opens the registry, so every pod sees the same versions and stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.platform.settings import Settings

if TYPE_CHECKING:
    from lakehouse_ml.registry import ModelRegistry


class ModelRegistryResource(dg.ConfigurableResource):
    """Opens ``lakehouse_ml.registry.ModelRegistry``; S3 credentials come from the usual AWS_* env."""

    registry_dir: str
    remote_url: str
    endpoint_url: str | None = None
    git_url: str | None = None

    def open(self) -> ModelRegistry:
        from lakehouse_ml.registry import ModelRegistry
        from lakehouse_ml.registry.model_registry import Remote

        registry = ModelRegistry(
            self.registry_dir, Remote(self.remote_url, self.endpoint_url), git_url=self.git_url
        )
        registry.sync()
        return registry


def local_model_registry(settings: Settings) -> ModelRegistryResource:
    return ModelRegistryResource(
        registry_dir=str(settings.registry_dir), remote_url=str(settings.dvc_remote_dir)
    )


def prod_model_registry(settings: Settings) -> ModelRegistryResource:
    return ModelRegistryResource(
        registry_dir=str(settings.registry_dir),
        remote_url=settings.dvc_remote_url,
        endpoint_url=settings.s3_endpoint,
        git_url=dg.EnvVar("LAKEHOUSE_REGISTRY_GIT_URL"),  # required: a pod's clone goes with the pod
    )
