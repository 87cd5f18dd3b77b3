"""The stand-in Kubernetes API behind ``KServeClient`` keeps the real API's semantics
(tests/support/standins/kserve_standin.py)."""

from __future__ import annotations

import pytest

from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service
from tests.support.standins.kserve_standin import StandInCustomObjectsApi, kserve_client, merge_patch

# RFC 7386, Appendix A: (target, patch, result)
RFC_7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_EXAMPLES)
def test_merge_patch_follows_rfc_7386(target, patch, result):
    assert merge_patch(target, patch) == result


def test_merge_patch_leaves_its_inputs_alone():
    target, patch = {"a": {"b": 1}}, {"a": {"b": None, "c": 2}}
    merge_patch(target, patch)
    assert target == {"a": {"b": 1}} and patch == {"a": {"b": None, "c": 2}}


def isvc(version: str, canary: int | None):
    return inference_service(InferenceServiceSpec("ml", "img", f"s3://m/{version}", version, canary))


def test_an_omitted_field_keeps_its_value_and_generations_count_spec_changes():
    api = StandInCustomObjectsApi({"v1": "http://v1", "v2": "http://v2"})
    client = kserve_client(api)
    assert client.create(isvc("v1", None), namespace="ml")["metadata"]["generation"] == 1
    assert client.patch("churn-predictor", isvc("v2", 10), namespace="ml")["metadata"]["generation"] == 2
    patched = client.patch("churn-predictor", isvc("v2", None), namespace="ml")
    assert patched["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert patched["metadata"]["generation"] == 2  # nothing in spec changed


def test_the_controller_reports_the_old_generation_until_it_reconciles():
    api = StandInCustomObjectsApi({"v1": "http://v1", "v2": "http://v2"})
    client = kserve_client(api)
    client.create(isvc("v1", None), namespace="ml")
    client.wait_isvc_ready("churn-predictor", namespace="ml", polling_interval=0.001, expected_generation=1)
    client.patch("churn-predictor", isvc("v2", 10), namespace="ml")
    assert client.is_isvc_ready("churn-predictor", namespace="ml")  # the old revision's Ready
    client.patch("churn-predictor", isvc("v2", 20), namespace="ml")
    assert not client.is_isvc_ready("churn-predictor", namespace="ml", expected_generation=3)
    assert client.is_isvc_ready("churn-predictor", namespace="ml", expected_generation=3)
    assert api.traffic("ml", "churn-predictor") == {"v2": 20, "v1": 80}


def test_a_missing_service_is_the_api_404():
    client = kserve_client(StandInCustomObjectsApi({}))
    with pytest.raises(RuntimeError, match="Not Found"):
        client.get("churn-predictor", namespace="ml")
