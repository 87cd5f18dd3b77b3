"""GTO reads the registry: every version has a SemVer twin tag (``churn-model@vN.0.0``), versions
registered before the twins get theirs at the next write, and ``vN`` stays the registry's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote, version_number
from tests.support.model_builders import write_model
from tests.support.registry_builders import git


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return write_model(tmp_path_factory.mktemp("models") / "model")


def test_gto_lists_every_version_and_its_stage_after_migrating_old_tags(lakehouse_home: Path, model: Path):
    from gto.api import history, show

    registry = ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))
    assert registry.register(model, {}) == "v1"
    git(registry.root, "tag", "-d", "churn-model@v1.0.0")  # v1 as registered before the twins
    assert registry.register(model, {}) == "v2"
    assert git(registry.root, "rev-parse", "churn-model@v1.0.0^{}") == git(
        registry.root, "rev-parse", "churn-model@v1^{}"
    )
    registry.promote("v1", "production")
    registry.promote("v2", "staging")

    assert registry.versions() == ["v1", "v2"] and registry.production_version() == "v1"
    assert registry.stage_version("staging") == "v2"
    assert version_number("churn-model@v2.0.0") == 2 and registry.metrics("churn-model@v2.0.0")
    shown = {
        row["version"]: [stage["stage"] for stage in row["stages"]]
        for row in show(str(registry.root), "churn-model")
    }
    assert shown == {"v1.0.0": ["production"], "v2.0.0": ["staging"]}
    events = {
        (event["event"], event["version"], event.get("stage"))
        for event in history(str(registry.root), "churn-model")
    }
    assert {("assignment", "v1.0.0", "production"), ("assignment", "v2.0.0", "staging")} <= events
    assert {version for kind, version, _ in events if kind == "registration"} == {"v1.0.0", "v2.0.0"}


def test_a_malformed_version_is_refused_by_name():
    from lakehouse_ml.registry import RegistryError

    for text in ("v1.2.0", "churn-model@latest", "1.0"):
        with pytest.raises(RegistryError, match="not a model version"):
            version_number(text)
