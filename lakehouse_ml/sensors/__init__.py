"""Sensors and schedules that close the loop: new landings start the refresh, monitoring breaches and the
calendar trigger retraining; failures, breaches and rollbacks alert."""

from lakehouse_ml.sensors.alerts import lakehouse_alerts_sensor, run_failure_alert_sensor
from lakehouse_ml.sensors.drift import drift_retrain_sensor
from lakehouse_ml.sensors.freshness import freshness_checks_sensor
from lakehouse_ml.sensors.landing import raw_landing_sensor
from lakehouse_ml.sensors.schedules import weekly_model_retrain

SENSORS = [
    drift_retrain_sensor,
    raw_landing_sensor,
    lakehouse_alerts_sensor,
    run_failure_alert_sensor,
    freshness_checks_sensor,
]
SCHEDULES = [weekly_model_retrain]

__all__ = [
    "SCHEDULES",
    "SENSORS",
    "drift_retrain_sensor",
    "freshness_checks_sensor",
    "lakehouse_alerts_sensor",
    "raw_landing_sensor",
    "run_failure_alert_sensor",
    "weekly_model_retrain",
]
