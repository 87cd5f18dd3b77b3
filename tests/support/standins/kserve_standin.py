"""A stand-in for the Kubernetes API behind the real ``KServeClient``: what cannot run here is the API
server and the KServe controller, so only those are replaced, with their semantics:

- ``patch`` is a JSON merge patch (RFC 7386, what ``CustomObjectsApi.patch_namespaced_custom_object``
  sends): an omitted field keeps its value, an explicit ``null`` removes it;
- every change of ``spec`` bumps ``metadata.generation``; every object is validated against KServe's CRD;
- the controller is late: the first read after a change still shows the previous status (Ready, with the
  old ``observedGeneration``), as a real cluster does before it reconciles;
- traffic follows KServe's canary rule: with ``canaryTrafficPercent`` below 100, the latest revision gets
  that share and the last rolled-out revision the rest; otherwise the latest revision takes all of it.

Revisions are reached at ``revision_urls[<the model-version label the revision was created with>]``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema

from lakehouse_ml.serving.manifest import render

SCHEMA = json.loads((Path(__file__).parents[2] / "data" / "kserve-inferenceservice-v1beta1.json").read_text())
VERSION_LABEL = "lakehouse-ml/model-version"


def merge_patch(target, patch):
    """RFC 7386 section 2: apply the JSON merge patch ``patch`` to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class StandInCustomObjectsApi:
    """The ``CustomObjectsApi`` methods ``KServeClient`` calls for one InferenceService lifecycle."""

    def __init__(self, revision_urls: dict[str, str]):
        self.revision_urls = revision_urls
        self.objects: dict[tuple[str, str], dict] = {}
        self.revisions: dict[tuple[str, str], list[dict]] = {}
        self.unreconciled_reads: dict[tuple[str, str], int] = {}
        self.applied: list[dict] = []  # every object as stored after a create or a patch

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        key = self._existing(namespace, name)
        if self.unreconciled_reads[key]:
            self.unreconciled_reads[key] -= 1
        else:
            self._reconcile(key)
        return copy.deepcopy(self.objects[key])

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **kwargs):
        manifest = _serialize(body)
        key = (namespace, manifest["metadata"]["name"])
        if key in self.objects:
            raise _api_exception(409, "Conflict")
        manifest["metadata"].update(generation=1, resourceVersion="1")
        self.revisions[key] = []
        return self._store(key, manifest)

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **kwargs):
        key = self._existing(namespace, name)
        current = self.objects[key]
        patched = merge_patch(current, _serialize(body))
        metadata = patched["metadata"]
        metadata["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
        if patched["spec"] != current["spec"]:
            metadata["generation"] = current["metadata"]["generation"] + 1
        return self._store(key, patched)

    def _existing(self, namespace, name) -> tuple[str, str]:
        if (namespace, name) not in self.objects:
            raise _api_exception(404, "Not Found")
        return namespace, name

    def _store(self, key, manifest: dict) -> dict:
        jsonschema.Draft7Validator(SCHEMA).validate({k: v for k, v in manifest.items() if k != "status"})
        self.objects[key] = manifest
        self.unreconciled_reads[key] = 1
        self.applied.append(copy.deepcopy(manifest))
        return copy.deepcopy(manifest)

    def _reconcile(self, key) -> None:
        manifest = self.objects[key]
        generation = manifest["metadata"]["generation"]
        status = manifest.get("status") or {}
        if status.get("observedGeneration") == generation:
            return
        revisions = self.revisions[key]
        version = manifest["metadata"]["labels"][VERSION_LABEL]
        revisions.append({"name": f"{key[1]}-predictor-{generation:05d}", "url": self.revision_urls[version]})
        latest = revisions[-1]
        rolled_out = next(
            (r for r in revisions if r["name"] == status.get("latestRolledoutRevision")), latest
        )
        percent = manifest["spec"]["predictor"].get("canaryTrafficPercent", 100)
        if percent < 100 and rolled_out is not latest:
            traffic = [
                {"tag": "latest", "revisionName": latest["name"], "url": latest["url"], "percent": percent},
                {
                    "tag": "prev",
                    "revisionName": rolled_out["name"],
                    "url": rolled_out["url"],
                    "percent": 100 - percent,
                },
            ]
            rolled_out_name = rolled_out["name"]
        else:
            traffic = [
                {"tag": "latest", "revisionName": latest["name"], "url": latest["url"], "percent": 100}
            ]
            rolled_out_name = latest["name"]
        main = max(traffic, key=lambda entry: entry["percent"])
        manifest["status"] = {
            "observedGeneration": generation,
            "url": main["url"],
            "conditions": [{"type": "Ready", "status": "True"}],
            "latestRolledoutRevision": rolled_out_name,
            "components": {"predictor": {"traffic": traffic}},
        }

    def traffic(self, namespace: str, name: str) -> dict[str, int]:
        """The reconciled traffic split: ``{model version served: percent}``."""
        manifest = self.get_namespaced_custom_object("", "", namespace, "", name)
        by_url = {url: version for version, url in self.revision_urls.items()}
        split: dict[str, int] = {}
        for entry in manifest["status"]["components"]["predictor"]["traffic"]:
            version = by_url[entry["url"]]
            split[version] = split.get(version, 0) + entry["percent"]
        return split


def _serialize(body) -> dict:
    return body if isinstance(body, dict) else render(body)


def _api_exception(status: int, reason: str):
    from kubernetes.client.rest import ApiException

    return ApiException(status=status, reason=reason)


def kserve_client(api: StandInCustomObjectsApi):
    """The real ``KServeClient`` talking to ``api`` instead of a cluster's API server."""
    from kserve import KServeClient

    client = KServeClient.__new__(KServeClient)
    client.api_instance = api
    return client
