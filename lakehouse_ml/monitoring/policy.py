"""The retraining trigger policy: thresholds per signal and the verdicts computed from them.

Documented in ``docs/trigger-policy.md``; keep both in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS

DATA_DRIFT = "data_drift"
PREDICTION_DRIFT = "prediction_drift"
CONCEPT_DRIFT = "concept_drift"
PERFORMANCE = "performance"
SIGNALS = (DATA_DRIFT, PREDICTION_DRIFT, CONCEPT_DRIFT, PERFORMANCE)


@dataclass(frozen=True)
class TriggerPolicy:
    # Evidently's per-column drift threshold (normed Wasserstein / Jensen-Shannon distance).
    column_drift_threshold: float = 0.1
    # Data drift trips when this share of the signal features drifts ...
    drift_share_threshold: float = 0.5
    # ... or when any single signal feature drifts this far.
    feature_score_threshold: float = 0.2
    # Features that drift by construction in an ageing customer base: reported, never a trigger.
    construct_drift_features: tuple[str, ...] = ("tenure_days", "lifetime_value")
    prediction_score_threshold: float = 0.2
    # Data drift triggers on recent change: the newest snapshot against the one this many days earlier.
    recent_window_days: int = 28
    # The acquisition cohort (tenure below this) is compared on its own: a change in who arrives.
    new_customer_days: int = 30
    # Concept drift: the early outcome is "no order in (D + offset, D + horizon]" ...
    early_horizon_days: int = 28
    early_offset_days: int = 14
    # ... and trips when the outcome rate of a reference score band moves by this many standard errors
    concept_z_threshold: float = 4.0
    concept_bands: int = 5
    # ... or when the ROC AUC against that outcome drops this much.
    max_auc_drop: float = 0.05
    accuracy_floor: float = 0.80
    min_labelled_rows: int = 200
    sample_size: int = 50_000
    # A drift score counts only above what chance reaches for the compared sizes: the noise_quantile of
    # the score over noise_permutations random re-splits of the pooled rows (at most noise_rows a side).
    noise_quantile: float = 0.99
    noise_permutations: int = 200
    noise_rows: int = 2_000
    sample_seed: int = 42
    performance_window_days: int = 7
    label_horizon_days: int = LABEL_HORIZON_DAYS
    active_only: bool = True

    def __post_init__(self) -> None:
        for name in (
            "column_drift_threshold",
            "drift_share_threshold",
            "feature_score_threshold",
            "prediction_score_threshold",
            "max_auc_drop",
            "accuracy_floor",
            "noise_quantile",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"trigger policy {name} must be in [0, 1], got {value!r}")
        for name in (
            "early_horizon_days",
            "sample_size",
            "performance_window_days",
            "label_horizon_days",
            "recent_window_days",
            "new_customer_days",
            "concept_bands",
            "noise_permutations",
            "noise_rows",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"trigger policy {name} must be a positive integer, got {getattr(self, name)!r}"
                )

        if not 0 <= self.early_offset_days < self.early_horizon_days:
            raise ValueError("trigger policy early_offset_days must be in [0, early_horizon_days)")

    def noise(self):
        from lakehouse_ml.monitoring.drift import NoiseSettings

        return NoiseSettings(self.noise_permutations, self.noise_quantile, self.noise_rows)

    def signal_features(self, features: list[str]) -> list[str]:
        return [name for name in features if name not in self.construct_drift_features]


@dataclass
class Verdict:
    signal: str
    breach: bool
    reasons: list[str] = field(default_factory=list)
    # How far past its threshold the worst tripped condition is (1.0: at the threshold; 0 without a
    # breach): the retraining policy retrains within its cool-down only on a breach that grew.
    severity: float = 0.0


def data_drift_verdict(
    scores: dict[str, float], policy: TriggerPolicy, floors: dict[str, float] | None = None
) -> Verdict:
    """Trip on the drifted share of signal features or on one strongly drifted signal feature; a score
    counts only above its noise floor (what chance reaches at the compared sizes), when given."""
    floors = floors or {}
    signal_scores = {
        name: score for name, score in scores.items() if name not in policy.construct_drift_features
    }

    def passes(name: str, threshold: float) -> bool:
        return signal_scores[name] >= max(threshold, floors.get(name, 0.0))

    def noise_note(name: str, threshold: float) -> str:
        floor = floors.get(name, 0.0)
        return f" (noise floor {floor:.3f})" if floor > threshold else ""

    reasons = []
    severity = 0.0
    if signal_scores:
        drifted = [name for name in signal_scores if passes(name, policy.column_drift_threshold)]
        share = len(drifted) / len(signal_scores)
        if share >= policy.drift_share_threshold:
            severity = _ratio(share, policy.drift_share_threshold)
            reasons.append(
                f"{len(drifted)}/{len(signal_scores)} signal features drifted (share {share:.2f} >= "
                f"{policy.drift_share_threshold}): {', '.join(sorted(drifted))}"
            )
        for name, score in sorted(signal_scores.items()):
            if passes(name, policy.feature_score_threshold):
                severity = max(severity, _ratio(score, policy.feature_score_threshold))
                reasons.append(
                    f"{name} drift score {score:.3f} >= {policy.feature_score_threshold}"
                    + noise_note(name, policy.feature_score_threshold)
                )
    return Verdict(DATA_DRIFT, bool(reasons), reasons, severity)


def _ratio(value: float, threshold: float) -> float:
    return value / threshold if threshold > 0 else float(value > 0) + 1.0


def prediction_drift_verdict(score: float, policy: TriggerPolicy) -> Verdict:
    breach = score >= policy.prediction_score_threshold
    reasons = [f"prediction score drift {score:.3f} >= {policy.prediction_score_threshold}"] if breach else []
    severity = _ratio(score, policy.prediction_score_threshold) if breach else 0.0
    return Verdict(PREDICTION_DRIFT, breach, reasons, severity)


def concept_drift_verdict(
    reference_auc: float | None,
    current_auc: float | None,
    labelled_rows: int,
    policy: TriggerPolicy,
    band_z_scores: list[float] | None = None,
) -> Verdict:
    """Trip when outcomes moved within a score band, or the model ranks them clearly worse."""
    if labelled_rows < policy.min_labelled_rows:
        return Verdict(CONCEPT_DRIFT, False, [])
    reasons = []
    severity = 0.0
    for band, z in enumerate(band_z_scores or []):
        if abs(z) >= policy.concept_z_threshold:
            severity = max(severity, _ratio(abs(z), policy.concept_z_threshold))
            reasons.append(
                f"early-outcome rate of score band {band + 1}/{len(band_z_scores)} moved {z:+.1f} standard "
                f"errors (threshold {policy.concept_z_threshold})"
            )
    if reference_auc is not None and current_auc is not None:
        drop = reference_auc - current_auc
        if drop >= policy.max_auc_drop:
            severity = max(severity, _ratio(drop, policy.max_auc_drop))
            reasons.append(
                f"ROC AUC dropped {drop:.3f} (from {reference_auc:.3f} to {current_auc:.3f}) "
                f">= {policy.max_auc_drop}"
            )
    return Verdict(CONCEPT_DRIFT, bool(reasons), reasons, severity)


def performance_verdict(accuracy: float | None, labelled_rows: int, policy: TriggerPolicy) -> Verdict:
    if accuracy is None or labelled_rows < policy.min_labelled_rows:
        return Verdict(PERFORMANCE, False, [])
    breach = accuracy < policy.accuracy_floor
    reasons = [f"accuracy {accuracy:.3f} < floor {policy.accuracy_floor}"] if breach else []
    severity = _ratio(1 - accuracy, 1 - policy.accuracy_floor) if breach else 0.0
    return Verdict(PERFORMANCE, breach, reasons, severity)
