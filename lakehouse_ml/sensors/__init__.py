"""Sensors and schedules that close the loop: new landings start the refresh, monitoring breaches and the
calendar trigger retraining."""

from lakehouse_ml.sensors.drift import drift_retrain_sensor
from lakehouse_ml.sensors.landing import raw_landing_sensor
from lakehouse_ml.sensors.schedules import weekly_model_retrain

SENSORS = [drift_retrain_sensor, raw_landing_sensor]
SCHEDULES = [weekly_model_retrain]

__all__ = ["SCHEDULES", "SENSORS", "drift_retrain_sensor", "raw_landing_sensor", "weekly_model_retrain"]
