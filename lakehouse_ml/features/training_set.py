"""The one point-in-time join used for training: Feast historical features for an entity frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from lakehouse_ml.features.store import ENTITY_KEY, FEATURE_NAMES, FEATURE_SERVICE

if TYPE_CHECKING:
    import feast

TIMESTAMP = "event_timestamp"
_ROW = "__entity_row__"


class TrainingSetError(ValueError):
    """The entity frame is unusable, or Feast's join lost or duplicated rows."""


def _check_entity_df(entity_df: pd.DataFrame) -> None:
    missing = [c for c in (ENTITY_KEY, TIMESTAMP) if c not in entity_df.columns]
    if missing:
        raise TrainingSetError(f"entity frame lacks column(s) {missing}; needs {ENTITY_KEY!r}, {TIMESTAMP!r}")
    clashes = sorted(set(FEATURE_NAMES) & set(entity_df.columns))
    if clashes:
        raise TrainingSetError(f"entity frame already has feature column(s) {clashes}; drop them first")
    for column in (ENTITY_KEY, TIMESTAMP):
        nulls = int(entity_df[column].isna().sum())
        if nulls:
            raise TrainingSetError(f"entity frame column {column!r} has {nulls} null value(s)")
    if not pd.api.types.is_datetime64_any_dtype(entity_df[TIMESTAMP]):
        dtype = entity_df[TIMESTAMP].dtype
        raise TrainingSetError(f"entity frame column {TIMESTAMP!r} must be datetime, got {dtype}")


def build_training_set(store: feast.FeatureStore, entity_df: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time features of feature service ``churn_v1`` for every row of ``entity_df``.

    Returns the entity frame's columns (values and dtypes untouched) followed by ``FEATURE_NAMES``, in
    the entity frame's row order; features without a row in the view's ttl window are null. Raises
    TrainingSetError if Feast dropped or duplicated any row.
    """
    _check_entity_df(entity_df)
    request = entity_df[[ENTITY_KEY, TIMESTAMP]].copy()
    request[_ROW] = range(len(request))
    joined = store.get_historical_features(
        entity_df=request, features=store.get_feature_service(FEATURE_SERVICE, allow_cache=True)
    ).to_df()
    counts = joined[_ROW].value_counts()
    dropped = len(request) - counts.size
    duplicated = int((counts > 1).sum())
    if dropped or duplicated or len(joined) != len(request):
        raise TrainingSetError(
            f"point-in-time join returned {len(joined)} rows for {len(request)} entity rows "
            f"({dropped} dropped, {duplicated} duplicated)"
        )
    features = joined.set_index(_ROW).sort_index()[FEATURE_NAMES]
    result = entity_df.reset_index(drop=True)
    return pd.concat([result, features.reset_index(drop=True)], axis=1)
