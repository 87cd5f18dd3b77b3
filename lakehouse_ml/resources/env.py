"""Resource config from optional environment variables, through ``dg.EnvVar`` (values stay out of the
run config and the UI, so secrets are safe)."""

from __future__ import annotations

import os

import dagster as dg


def optional_env(field: str, variable: str, as_int: bool = False) -> dict:
    """``{field: dg.EnvVar(variable)}`` when the variable is set, else nothing: a ``dg.EnvVar`` on an
    unset variable fails resource start, so an optional field must not get one (its default holds)."""
    if not os.environ.get(variable):
        return {}
    return {field: dg.EnvVar.int(variable) if as_int else dg.EnvVar(variable)}
