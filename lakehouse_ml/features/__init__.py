"""Feature store stage: Feast repo access, point-in-time training sets, online reads, skew checks.

Plain modules (no Dagster); Feast is imported inside functions because ``import feast`` takes seconds.
"""
