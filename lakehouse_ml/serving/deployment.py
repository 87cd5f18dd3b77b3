"""Deployment state shared by the deployer and the server process (``$LAKEHOUSE_HOME/serving/``).

``deployment.json`` is what should serve (written by the deployer); ``status.json`` is what the
server actually loaded for which ``generation`` (written by the server). Both are replaced atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lakehouse_ml.platform.posix import write_json_atomic

DEPLOYMENT_FILE = "deployment.json"
STATUS_FILE = "status.json"
PID_FILE = "server.pid"
LOG_FILE = "server.log"
SPOOL_DIR = "spool"
MODELS_DIR = "models"
DEFAULT_CANARY_PERCENT = 10


@dataclass(frozen=True)
class Deployment:
    stable: str | None = None
    canary: str | None = None
    canary_traffic_percent: int = 0
    models: dict[str, str] = field(default_factory=dict)  # version -> model folder
    generation: int = 0

    def versions(self) -> list[str]:
        return [v for v in (self.stable, self.canary) if v]

    def with_changes(self, **changes) -> Deployment:
        updated = replace(self, **changes)
        keep = set(updated.versions())
        return replace(
            updated,
            models={v: p for v, p in updated.models.items() if v in keep},
            generation=self.generation + 1,
            canary_traffic_percent=updated.canary_traffic_percent if updated.canary else 0,
        )


def read_deployment(serving_dir: Path) -> Deployment:
    path = serving_dir / DEPLOYMENT_FILE
    if not path.exists():
        return Deployment()
    return Deployment(**json.loads(path.read_text()))


def write_deployment(serving_dir: Path, deployment: Deployment) -> None:
    write_json_atomic(serving_dir / DEPLOYMENT_FILE, asdict(deployment))


def read_status(serving_dir: Path) -> dict:
    try:
        return json.loads((serving_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
