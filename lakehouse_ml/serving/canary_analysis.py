"""Automated canary analysis: judge the canary against the stable version on the traffic each served.

Every evaluation reads the prediction log (``ml.churn_predictions`` names the version of each
prediction) since the canary's first prediction, and the model server's per-version counters, then:

- fails on a canary error rate above ``max_error_rate`` or a mean latency above ``max_latency_ratio``
  times the stable one's (once above ``latency_floor_ms``: below it the difference is noise);
- with at least ``min_predictions`` predictions of each, compares the score distributions by PSI:
  paired on the customers both versions scored when there are ``min_predictions`` of them, else the
  two served populations (the traffic split assigns whole requests, so both are samples of one
  population); fails above ``max_score_psi`` plus PSI's expected sampling noise at those sizes;
- once each version has ``min_labelled`` predictions with a known outcome of both classes, fails when
  the canary's ROC AUC is more than ``max_auc_drop`` below the stable one's.

Decision (Flagger / Argo Rollouts style): roll back on any failing evaluation; promote after
``min_passes`` consecutive passing evaluations, each on new canary traffic; wait otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from lakehouse_ml.platform.settings import Settings

LOG_COLUMNS = ("customer_id", "confidence", "model_version", "prediction_timestamp", "actual")
REQUESTS_METRIC = "churn_predictor_requests"
SECONDS_METRIC = "churn_predictor_score_seconds"
PSI_BINS = 10
PSI_SMOOTHING = 0.5  # added to every bin count (Jeffreys): an empty bin keeps PSI finite, not huge

Verdict = Literal["pass", "fail", "insufficient"]
Action = Literal["promote", "rollback", "wait"]


@dataclass(frozen=True)
class CanaryPolicy:
    """The canary policy's numbers; their defaults live in one place, the ``canary_*`` settings."""

    min_passes: int
    min_predictions: int
    max_error_rate: float
    max_latency_ratio: float
    latency_floor_ms: float
    max_score_psi: float
    min_labelled: int
    max_auc_drop: float

    @classmethod
    def from_settings(cls, settings: Settings) -> CanaryPolicy:
        return cls(**{name: getattr(settings, f"canary_{name}") for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ServedCounts:
    """One version's counters on the model server."""

    requests: int = 0
    errors: int = 0
    seconds_sum: float = 0.0
    timed: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def mean_latency_ms(self) -> float | None:
        return 1000 * self.seconds_sum / self.timed if self.timed else None


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    reasons: tuple[str, ...]
    canary_predictions: int
    measurements: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CanaryState:
    """What the previous evaluations left: kept in the analysis asset's materialization metadata."""

    canary: str | None = None
    consecutive_passes: int = 0
    evaluated_predictions: int = 0


@dataclass(frozen=True)
class Decision:
    action: Action
    state: CanaryState
    reasons: tuple[str, ...]


def parse_server_metrics(text: str) -> dict[str, ServedCounts]:
    """Per version, the counters of a Prometheus text exposition (the model server's ``/metrics``)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            version = sample.labels.get("model_version")
            if version is None:
                continue
            entry = counts.setdefault(version, {"requests": 0, "errors": 0, "seconds_sum": 0.0, "timed": 0})
            if sample.name == f"{REQUESTS_METRIC}_total":
                entry["requests"] += int(sample.value)
                if sample.labels.get("outcome") == "error":
                    entry["errors"] += int(sample.value)
            elif sample.name == f"{SECONDS_METRIC}_sum":
                entry["seconds_sum"] += float(sample.value)
            elif sample.name == f"{SECONDS_METRIC}_count":
                entry["timed"] += int(sample.value)
    return {version: ServedCounts(**entry) for version, entry in counts.items()}


def read_traffic(table, stable: str, canary: str) -> pd.DataFrame:
    """The canary's predictions and the stable version's since the canary's first one (``LOG_COLUMNS``)."""
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual

    canary_rows = table.scan(row_filter=EqualTo("model_version", canary), selected_fields=LOG_COLUMNS)
    frame = canary_rows.to_pandas()
    if frame.empty:
        return frame
    since = frame["prediction_timestamp"].min().isoformat()
    stable_rows = table.scan(
        row_filter=And(EqualTo("model_version", stable), GreaterThanOrEqual("prediction_timestamp", since)),
        selected_fields=LOG_COLUMNS,
    ).to_pandas()
    import pandas as pd

    return pd.concat([frame, stable_rows], ignore_index=True)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``, probabilities in ``bins`` equal bins
    of [0, 1] (quantile bins would split the near-0 and near-1 masses of a confident model on differences
    of 1e-6)."""
    edges = np.linspace(0, 1, bins + 1)[1:-1]
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins)
    expected = (expected + PSI_SMOOTHING) / (expected.sum() + PSI_SMOOTHING * bins)
    actual = (actual + PSI_SMOOTHING) / (actual.sum() + PSI_SMOOTHING * bins)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_noise(reference_size: int, current_size: int, bins: int = PSI_BINS) -> float:
    """PSI's expected value between two samples of one distribution (its chi-square approximation):
    added to the threshold so small samples do not fail on sampling noise alone."""
    return (bins - 1) * (1 / reference_size + 1 / current_size)


def evaluate(
    predictions: pd.DataFrame,
    stable: str,
    canary: str,
    served: dict[str, ServedCounts] | None,
    policy: CanaryPolicy,
) -> Evaluation:
    """One evaluation of ``canary`` against ``stable`` (see the module docstring)."""
    failures: list[str] = []
    notes: list[str] = []
    short: list[str] = []
    measured: dict = {}
    _check_server(served, stable, canary, policy, failures, notes, measured)
    canary_rows = predictions[predictions["model_version"] == canary]
    stable_rows = predictions[predictions["model_version"] == stable]
    measured["canary_predictions"] = len(canary_rows)
    measured["stable_predictions"] = len(stable_rows)
    if len(canary_rows) < policy.min_predictions or len(stable_rows) < policy.min_predictions:
        short.append(
            f"too few predictions to compare scores: canary {len(canary_rows)}, stable {len(stable_rows)}, "
            f"each needs {policy.min_predictions}"
        )
    else:
        _check_scores(canary_rows, stable_rows, policy, failures, notes, measured)
        _check_outcomes(canary_rows, stable_rows, policy, failures, notes, measured)
    verdict: Verdict = "fail" if failures else "insufficient" if short else "pass"
    return Evaluation(verdict, tuple(failures + short + notes), len(canary_rows), measured)


def _check_server(served, stable, canary, policy, failures, notes, measured) -> None:
    if served is None:
        notes.append("model server metrics unavailable: error rate and latency not checked")
        return
    ours, theirs = served.get(canary, ServedCounts()), served.get(stable, ServedCounts())
    measured.update(
        canary_requests=ours.requests,
        canary_errors=ours.errors,
        canary_error_rate=ours.error_rate,
        stable_error_rate=theirs.error_rate,
    )
    if ours.errors and ours.error_rate > policy.max_error_rate:
        failures.append(
            f"error rate: canary {canary} failed {ours.errors} of {ours.requests} requests "
            f"({ours.error_rate:.1%} > {policy.max_error_rate:.1%})"
        )
    canary_ms, stable_ms = ours.mean_latency_ms, theirs.mean_latency_ms
    if canary_ms is None or stable_ms is None:
        notes.append("latency: not measured for both versions yet")
        return
    measured.update(canary_latency_ms=canary_ms, stable_latency_ms=stable_ms)
    limit = max(policy.max_latency_ratio * stable_ms, policy.latency_floor_ms)
    if canary_ms > limit:
        failures.append(
            f"latency: canary mean {canary_ms:.1f} ms > {limit:.1f} ms "
            f"({policy.max_latency_ratio}x stable's {stable_ms:.1f} ms, floor {policy.latency_floor_ms} ms)"
        )


def _check_scores(canary_rows, stable_rows, policy, failures, notes, measured) -> None:
    canary_latest = (
        canary_rows.sort_values("prediction_timestamp").groupby("customer_id")["confidence"].last()
    )
    stable_latest = (
        stable_rows.sort_values("prediction_timestamp").groupby("customer_id")["confidence"].last()
    )
    common = canary_latest.index.intersection(stable_latest.index)
    if len(common) >= policy.min_predictions:
        basis = f"the {len(common)} customers both versions scored"
        reference, current = stable_latest[common].to_numpy(), canary_latest[common].to_numpy()
    else:
        basis = f"the customers each version served ({len(stable_rows)} stable, {len(canary_rows)} canary)"
        reference, current = stable_rows["confidence"].to_numpy(), canary_rows["confidence"].to_numpy()
    value = psi(reference.astype(float), current.astype(float))
    limit = policy.max_score_psi + psi_noise(len(reference), len(current))
    measured.update(
        score_psi=value, score_psi_limit=limit, score_mean_shift=float(current.mean() - reference.mean())
    )
    comparison = f"PSI {value:.3f} {'>' if value > limit else '<='} {limit:.3f}"
    limit_note = f"({policy.max_score_psi} + sampling noise) on {basis}"
    (failures if value > limit else notes).append(f"score distribution: {comparison} {limit_note}")


def _check_outcomes(canary_rows, stable_rows, policy, failures, notes, measured) -> None:
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for name, rows in (("canary", canary_rows), ("stable", stable_rows)):
        labelled = rows[rows["actual"].notna()]
        if len(labelled) < policy.min_labelled or labelled["actual"].nunique() < 2:
            notes.append(
                f"outcomes: {name} has {len(labelled)} labelled predictions "
                f"(needs {policy.min_labelled} of both classes): not compared yet"
            )
            return
        aucs[name] = float(roc_auc_score(labelled["actual"].astype(bool), labelled["confidence"]))
    measured.update(canary_roc_auc=aucs["canary"], stable_roc_auc=aucs["stable"])
    drop = aucs["stable"] - aucs["canary"]
    if drop > policy.max_auc_drop:
        failures.append(
            f"outcomes: canary ROC AUC {aucs['canary']:.3f} is {drop:.3f} below stable's "
            f"{aucs['stable']:.3f} (max drop {policy.max_auc_drop})"
        )


def decide(evaluation: Evaluation, canary: str, previous: CanaryState, policy: CanaryPolicy) -> Decision:
    """Promote, roll back or wait, with the state the next evaluation continues from."""
    before = previous if previous.canary == canary else CanaryState(canary)
    if evaluation.verdict == "fail":
        return Decision("rollback", CanaryState(canary, 0, evaluation.canary_predictions), evaluation.reasons)
    if evaluation.verdict == "insufficient":
        return Decision("wait", before, evaluation.reasons)
    if evaluation.canary_predictions <= before.evaluated_predictions:
        reason = f"no new canary predictions since the last evaluation ({evaluation.canary_predictions})"
        return Decision("wait", before, (reason, *evaluation.reasons))
    passes = before.consecutive_passes + 1
    after = CanaryState(canary, passes, evaluation.canary_predictions)
    progress = f"passing evaluation {passes} of {policy.min_passes}"
    action: Action = "promote" if passes >= policy.min_passes else "wait"
    return Decision(action, after, (progress, *evaluation.reasons))


def state_metadata(state: CanaryState) -> dict:
    return {f"state_{name}": value for name, value in asdict(state).items() if value is not None}


def state_from_metadata(metadata: dict) -> CanaryState:
    """The state ``state_metadata`` wrote (values may be Dagster metadata objects with ``.value``)."""
    values = {
        k.removeprefix("state_"): getattr(v, "value", v)
        for k, v in metadata.items()
        if k.startswith("state_")
    }
    known = {name: values[name] for name in CanaryState.__dataclass_fields__ if name in values}
    return CanaryState(**known)
