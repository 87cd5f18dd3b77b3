"""Canary analysis on hand-built prediction frames: pass, fail on errors, latency or score shift, wait."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.serving.canary_analysis import (
    CanaryPolicy,
    CanaryState,
    ServedCounts,
    decide,
    evaluate,
    parse_server_metrics,
    psi,
    state_from_metadata,
    state_metadata,
)

POLICY = dataclasses.replace(
    CanaryPolicy.from_settings(Settings.from_env({})), min_passes=2, min_predictions=100, min_labelled=50
)
START = datetime(2026, 3, 1, tzinfo=UTC)
HEALTHY = {
    "v1": ServedCounts(requests=90, errors=0, seconds_sum=0.09, timed=90),
    "v2": ServedCounts(requests=10, errors=0, seconds_sum=0.011, timed=10),
}


def _log(version: str, customers: int, seed: int, shift: float = 0.0, labels=None, first: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.beta(2, 5, customers) + shift, 0, 1)
    return pd.DataFrame(
        {
            "customer_id": [f"c{first + i:05d}" for i in range(customers)],
            "confidence": scores.astype("float32"),
            "model_version": version,
            "prediction_timestamp": [START + timedelta(seconds=i) for i in range(customers)],
            "actual": labels if labels is not None else pd.Series([None] * customers, dtype=object),
        }
    )


def _traffic(canary_shift: float = 0.0, canary_customers: int = 150) -> pd.DataFrame:
    """Split traffic: stable and canary serve different customers from one population."""
    return pd.concat(
        [_log("v1", 1200, seed=1), _log("v2", canary_customers, seed=2, shift=canary_shift, first=5000)],
        ignore_index=True,
    )


def test_healthy_canary_passes_and_is_promoted_after_n_passes_on_new_traffic():
    first = evaluate(_traffic(), "v1", "v2", HEALTHY, POLICY)
    assert first.verdict == "pass", first.reasons
    assert any("score distribution: PSI" in reason for reason in first.reasons)
    one = decide(first, "v2", CanaryState(), POLICY)
    assert (one.action, one.state.consecutive_passes) == ("wait", 1)
    same_traffic = decide(first, "v2", one.state, POLICY)
    assert (same_traffic.action, same_traffic.state.consecutive_passes) == ("wait", 1)
    assert "no new canary predictions" in same_traffic.reasons[0]
    second = evaluate(_traffic(canary_customers=200), "v1", "v2", HEALTHY, POLICY)
    two = decide(second, "v2", one.state, POLICY)
    assert (two.action, two.state.consecutive_passes) == ("promote", 2)


def test_errors_fail_and_roll_back_even_without_predictions():
    erroring = {**HEALTHY, "v2": ServedCounts(requests=4, errors=4)}
    evaluation = evaluate(_log("v1", 500, seed=1), "v1", "v2", erroring, POLICY)
    assert evaluation.verdict == "fail"
    assert "failed 4 of 4 requests" in evaluation.reasons[0]
    decision = decide(evaluation, "v2", CanaryState("v2", 1, 100), POLICY)
    assert (decision.action, decision.state.consecutive_passes) == ("rollback", 0)


def test_slow_canary_fails_above_ratio_and_floor():
    slow = {**HEALTHY, "v2": ServedCounts(requests=10, errors=0, seconds_sum=0.3, timed=10)}
    evaluation = evaluate(_traffic(), "v1", "v2", slow, POLICY)
    assert evaluation.verdict == "fail"
    assert evaluation.reasons[0].startswith("latency: canary mean 30.0 ms")


def test_score_shift_fails_and_paired_customers_are_used_when_enough():
    shifted = evaluate(_traffic(canary_shift=0.4), "v1", "v2", HEALTHY, POLICY)
    assert shifted.verdict == "fail"
    assert "score distribution: PSI" in shifted.reasons[0]
    assert "customers each version served" in shifted.reasons[0]
    paired = pd.concat([_log("v1", 300, seed=1), _log("v2", 300, seed=1, shift=0.4)], ignore_index=True)
    evaluation = evaluate(paired, "v1", "v2", HEALTHY, POLICY)
    assert evaluation.verdict == "fail" and "the 300 customers both versions scored" in evaluation.reasons[0]
    same = pd.concat([_log("v1", 300, seed=1), _log("v2", 300, seed=1)], ignore_index=True)
    assert evaluate(same, "v1", "v2", HEALTHY, POLICY).measurements["score_psi"] == pytest.approx(0.0)


def test_too_few_predictions_waits_and_keeps_the_count():
    evaluation = evaluate(_traffic(canary_customers=40), "v1", "v2", HEALTHY, POLICY)
    assert evaluation.verdict == "insufficient"
    assert "canary 40" in evaluation.reasons[0]
    decision = decide(evaluation, "v2", CanaryState("v2", 1, 30), POLICY)
    assert (decision.action, decision.state) == ("wait", CanaryState("v2", 1, 30))


def test_worse_outcomes_fail_once_labels_exist():
    rng = np.random.default_rng(3)
    stable = _log("v1", 400, seed=1)
    stable["actual"] = (stable["confidence"] + rng.normal(0, 0.05, 400) > 0.3).astype(object)
    canary = _log("v2", 400, seed=1, first=5000)
    canary["actual"] = pd.Series(rng.random(400) < 0.4, dtype=object)  # scores tell nothing about outcomes
    frame = pd.concat([stable, canary], ignore_index=True)
    evaluation = evaluate(frame, "v1", "v2", HEALTHY, POLICY)
    assert evaluation.verdict == "fail"
    assert any(reason.startswith("outcomes: canary ROC AUC") for reason in evaluation.reasons)
    unlabelled = evaluate(_traffic(), "v1", "v2", HEALTHY, POLICY)
    assert any("labelled predictions" in reason for reason in unlabelled.reasons)


def test_state_round_trips_through_metadata_and_resets_for_a_new_canary():
    state = CanaryState("v2", 2, 310)
    assert state_from_metadata(state_metadata(state)) == state
    fresh = decide(evaluate(_traffic(), "v1", "v3", {}, POLICY), "v3", state, POLICY)
    assert fresh.state.canary == "v3"


def test_server_metrics_are_read_per_version():
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    registry = CollectorRegistry()
    labels = ["model_name", "model_version", "role"]
    requests = Counter("churn_predictor_requests", "", [*labels, "outcome"], registry=registry)
    seconds = Histogram("churn_predictor_score_seconds", "", labels, registry=registry)
    requests.labels("churn-predictor", "v1", "stable", "ok").inc(9)
    requests.labels("churn-predictor", "v2", "canary", "ok").inc(3)
    requests.labels("churn-predictor", "v2", "canary", "error").inc(1)
    seconds.labels("churn-predictor", "v2", "canary").observe(0.5)
    parsed = parse_server_metrics(generate_latest(registry).decode())
    assert parsed["v2"] == ServedCounts(requests=4, errors=1, seconds_sum=0.5, timed=1)
    assert parsed["v1"].requests == 9 and parsed["v1"].mean_latency_ms is None


def test_psi_is_zero_on_identical_and_large_on_shifted_scores():
    scores = np.random.default_rng(0).beta(2, 5, 2000)
    assert psi(scores, scores) == pytest.approx(0.0)
    assert psi(scores, np.clip(scores + 0.4, 0, 1)) > 1.0
