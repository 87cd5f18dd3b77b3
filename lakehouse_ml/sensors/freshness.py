"""``freshness_checks_sensor``: evaluates the freshness checks of ``lakehouse_ml/assets/freshness.py``."""

import warnings

import dagster as dg

from lakehouse_ml.assets.freshness import FRESHNESS_CHECKS

with warnings.catch_warnings():  # superseded by FreshnessPolicy in 1.13: see assets/freshness.py
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=FRESHNESS_CHECKS, default_status=dg.DefaultSensorStatus.RUNNING
    )
