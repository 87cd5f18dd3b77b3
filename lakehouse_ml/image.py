"""The project image (deploy/Dockerfile): Dagster code server, KFP components and KServe predictor."""

from __future__ import annotations

import os

IMAGE_VARIABLE = "LAKEHOUSE_IMAGE"
DEFAULT_IMAGE = "lakehouse-ml:latest"


def project_image() -> str:
    return os.environ.get(IMAGE_VARIABLE) or DEFAULT_IMAGE
