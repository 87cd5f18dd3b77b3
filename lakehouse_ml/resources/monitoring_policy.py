"""Monitoring thresholds as configuration: one resource every monitoring asset and check reads.

Its fields are generated from ``TriggerPolicy`` (the one definition of names, types and defaults), so a
threshold added to the policy is configurable here without being written twice.
"""

from __future__ import annotations

import dataclasses
import typing

import dagster as dg
from pydantic import create_model

from lakehouse_ml.monitoring.policy import TriggerPolicy


def _config_field(field: dataclasses.Field, annotation: object) -> tuple[object, object]:
    """Dagster config has lists, not tuples: a ``tuple[str, ...]`` policy field becomes ``list[str]``."""
    if typing.get_origin(annotation) is tuple:
        return list[typing.get_args(annotation)[0]], list(field.default)
    return annotation, field.default


_HINTS = typing.get_type_hints(TriggerPolicy)
_PolicyFields = create_model(
    "_PolicyFields",
    __base__=dg.ConfigurableResource,
    **{f.name: _config_field(f, _HINTS[f.name]) for f in dataclasses.fields(TriggerPolicy)},
)


class MonitoringPolicy(_PolicyFields):
    """The retraining trigger policy (docs/trigger-policy.md); override any threshold per deployment."""

    def policy(self) -> TriggerPolicy:
        values = self.model_dump()
        return TriggerPolicy(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})
