"""Every file under deploy/ (and the image's build-context filter) is validated by a test."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from tests.support.deploy_kit import DEPLOY, ROOT

TESTS = Path(__file__).resolve().parents[1]
VALIDATED_BY = {
    "helm/values.yaml": ("deploy/test_helm.py", "prod/test_instance.py"),
    "k8s/*.yaml": ("deploy/test_k8s.py",),
    "Dockerfile": ("deploy/test_image.py",),
    "trino/catalog/*.properties": ("deploy/test_trino.py",),
}


def test_every_deploy_file_has_a_validation_test():
    files = sorted(str(path.relative_to(DEPLOY)) for path in DEPLOY.rglob("*") if path.is_file())
    assert files
    unvalidated = [name for name in files if not any(fnmatch.fnmatch(name, p) for p in VALIDATED_BY)]
    assert unvalidated == []
    for tests in VALIDATED_BY.values():
        assert all((TESTS / test).is_file() for test in tests)


def test_the_build_context_filter_is_validated():
    assert (ROOT / ".dockerignore").is_file()
    assert ".dockerignore" in (TESTS / "deploy" / "test_image.py").read_text()
