"""Monitoring thresholds as configuration: one resource every monitoring asset and check reads."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.monitoring.policy import TriggerPolicy

_DEFAULTS = TriggerPolicy()


class MonitoringPolicy(dg.ConfigurableResource):
    """The retraining trigger policy (docs/trigger-policy.md); override any threshold per deployment."""

    column_drift_threshold: float = _DEFAULTS.column_drift_threshold
    drift_share_threshold: float = _DEFAULTS.drift_share_threshold
    feature_score_threshold: float = _DEFAULTS.feature_score_threshold
    construct_drift_features: list[str] = list(_DEFAULTS.construct_drift_features)
    prediction_score_threshold: float = _DEFAULTS.prediction_score_threshold
    recent_window_days: int = _DEFAULTS.recent_window_days
    new_customer_days: int = _DEFAULTS.new_customer_days
    early_horizon_days: int = _DEFAULTS.early_horizon_days
    early_offset_days: int = _DEFAULTS.early_offset_days
    concept_z_threshold: float = _DEFAULTS.concept_z_threshold
    concept_bands: int = _DEFAULTS.concept_bands
    max_auc_drop: float = _DEFAULTS.max_auc_drop
    accuracy_floor: float = _DEFAULTS.accuracy_floor
    min_labelled_rows: int = _DEFAULTS.min_labelled_rows
    sample_size: int = _DEFAULTS.sample_size
    sample_seed: int = _DEFAULTS.sample_seed
    performance_window_days: int = _DEFAULTS.performance_window_days
    label_horizon_days: int = _DEFAULTS.label_horizon_days
    active_only: bool = _DEFAULTS.active_only

    def policy(self) -> TriggerPolicy:
        values = {name: getattr(self, name) for name in TriggerPolicy.__dataclass_fields__}
        values["construct_drift_features"] = tuple(self.construct_drift_features)
        return TriggerPolicy(**values)
