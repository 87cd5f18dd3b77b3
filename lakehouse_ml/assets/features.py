"""Feast stage: register the feature definitions, fill the online store, check train/serve skew."""

import dagster as dg

from lakehouse_ml.platform.service_errors import naming_unavailable_services
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.feature_store import FeatureStoreResource

GOLD_FEATURES = dg.AssetKey("fct_customer_features")
ONLINE_KIND = "sqlite" if Settings.from_env().profile == "local" else "redis"
CONSISTENCY_SAMPLE = 200
CONSISTENCY_SEED = 20240101


@dg.asset(group_name="features", kinds={"feast"}, deps=[GOLD_FEATURES])
def feast_definitions(
    context: dg.AssetExecutionContext, feature_store: FeatureStoreResource
) -> dg.MaterializeResult:
    """The Feast registry entries of the churn features: entity ``customer``, feature view
    ``customer_features`` over ``fct_customer_features`` and feature service ``churn_v1``.

    Training and serving resolve features through this registry, so it is applied (after checking the
    view against the gold table's columns) whenever the gold table is rebuilt.
    """
    from lakehouse_ml.features.apply import apply_definitions

    with naming_unavailable_services("applying the Feast definitions"):
        changes = apply_definitions(feature_store.open(), feature_store.gold_source())
    changed = [c for c in changes if c.change != "UNCHANGED"]
    for change in changed:
        context.log.info(f"{change.change} {change.kind} {change.name} {change.properties or ''}")
    return dg.MaterializeResult(
        metadata={
            "changed": len(changed),
            "objects": dg.MetadataValue.md(
                "| object | name | change | properties |\n| --- | --- | --- | --- |\n"
                + "\n".join(
                    f"| {c.kind} | {c.name} | {c.change} | {', '.join(c.properties)} |" for c in changes
                )
            ),
            "gold_source": feature_store.gold_source().uri,
        }
    )


@dg.asset(group_name="features", kinds={"feast", ONLINE_KIND}, deps=[GOLD_FEATURES, feast_definitions])
def online_features(feature_store: FeatureStoreResource) -> dg.MaterializeResult:
    """The latest churn features per customer in the Feast online store, up to the pipeline clock.

    The model server reads features from here at prediction time; writing after every gold rebuild
    keeps serving on the same data the next model is trained on. Only customers whose stored values
    changed are written (everyone on the first write); days since the last order and tenure are computed
    at request time from the stored clock (``lakehouse_ml/features/online_write.py``, ``request_time.py``).
    """
    from lakehouse_ml.features.online_write import refresh_online

    with naming_unavailable_services("writing the online store"):
        result = refresh_online(feature_store.open(), feature_store.gold_source())
    return dg.MaterializeResult(
        metadata={
            "rows": result.rows,
            "entities": result.entities,
            "entities_written": result.written,
            "entities_unchanged": result.unchanged,
            "full_write": result.full,
            "write_reason": result.reason,
            "window_start": dg.MetadataValue.timestamp(result.start),
            "window_end": dg.MetadataValue.timestamp(result.end),
            "seconds": round(result.seconds, 3),
        }
    )


@dg.asset_check(asset=online_features, description="Online features equal the offline point-in-time features")
def online_offline_consistency(feature_store: FeatureStoreResource) -> dg.AssetCheckResult:
    """Train/serve skew: for a seeded sample of customers, the online features must equal the offline
    features as of the materialization time (the pipeline clock)."""
    from lakehouse_ml.features.consistency import online_offline_mismatches, sample_customers
    from lakehouse_ml.features.gold import pipeline_clock
    from lakehouse_ml.features.store import FEATURE_VIEW

    store, gold = feature_store.open(), feature_store.gold_source()
    as_of = pipeline_clock(gold)
    ttl = store.get_feature_view(FEATURE_VIEW).ttl
    customers = sample_customers(gold, as_of, ttl, CONSISTENCY_SAMPLE, CONSISTENCY_SEED)
    mismatches = online_offline_mismatches(store, customers, as_of)
    rows = [f"| {m.customer_id} | {m.feature} | {m.online} | {m.offline} |" for m in mismatches[:50]]
    return dg.AssetCheckResult(
        passed=not mismatches,
        metadata={
            "as_of": dg.MetadataValue.timestamp(as_of),
            "entities_checked": len(customers),
            "mismatches": len(mismatches),
            "entities_differing": dg.MetadataValue.json(sorted({m.customer_id for m in mismatches})),
            "features_differing": dg.MetadataValue.json(sorted({m.feature for m in mismatches})),
            "differences (first 50)": dg.MetadataValue.md(
                "| customer_id | feature | online | offline |\n| --- | --- | --- | --- |\n" + "\n".join(rows)
            ),
        },
    )
