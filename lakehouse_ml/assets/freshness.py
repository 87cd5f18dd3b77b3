"""Freshness checks: the refreshed data (gold, online features, predictions) and the monitoring results
must have been updated recently, or ``lakehouse_alerts_sensor`` says they are stale.

Dagster's last-update freshness checks, evaluated by ``freshness_checks_sensor`` (sensors/freshness.py);
the instance needs ``freshness: enabled: true`` (orchestration/instance.py, deploy/helm/values.yaml).
Bounds are settings: ``LAKEHOUSE_FRESHNESS_REFRESH_HOURS`` for what every landing refreshes and
``LAKEHOUSE_FRESHNESS_MONITORING_HOURS`` for the weekly monitoring results.
"""

import warnings
from datetime import timedelta

import dagster as dg

from lakehouse_ml.assets.features import online_features
from lakehouse_ml.assets.gold import GOLD_MODELS
from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS
from lakehouse_ml.assets.predictions import churn_predictions
from lakehouse_ml.platform.settings import Settings

_settings = Settings.from_env()

# Dagster 1.13 marks these factories superseded by FreshnessPolicy; kept because their verdicts are asset
# check evaluations, which the alerting sensor and the UI's check history already handle like any check.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    refresh_freshness_checks = dg.build_last_update_freshness_checks(
        assets=[*(dg.AssetKey(model) for model in GOLD_MODELS), online_features, churn_predictions],
        lower_bound_delta=timedelta(hours=_settings.freshness_refresh_hours),
    )
    monitoring_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(SIGNAL_ASSETS.values()),
        lower_bound_delta=timedelta(hours=_settings.freshness_monitoring_hours),
    )
FRESHNESS_CHECKS = [*refresh_freshness_checks, *monitoring_freshness_checks]
