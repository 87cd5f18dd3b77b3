"""Dagster wiring besides assets, resources and sensors: jobs, pools, the instance and run recovery."""
