"""Register the feature definitions in the Feast registry, as ``feast apply`` does, and say what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakehouse_ml.features.definitions import build
from lakehouse_ml.features.gold import GoldSource, check_view_matches_gold

if TYPE_CHECKING:
    import feast


@dataclass(frozen=True)
class ObjectChange:
    kind: str  # Feast object type, e.g. FeatureView
    name: str
    change: str  # CREATE, UPDATE, DELETE or UNCHANGED
    properties: list[str] = field(default_factory=list)  # changed properties of an UPDATE


def apply_definitions(store: feast.FeatureStore, gold: GoldSource) -> list[ObjectChange]:
    """Check the definitions against the gold table, then apply them (deleting objects no longer defined)."""
    from feast import Project
    from feast.diff.property_diff import TransitionType
    from feast.feature_view import DUMMY_ENTITY
    from feast.repo_contents import RepoContents

    customer, source, view, service = build(gold)
    check_view_matches_gold(view, gold)
    # `feast apply` also registers the project of feature_store.yaml and Feast's dummy entity (for
    # entity-less views); leaving them out of the plan would mark them for deletion.
    project = Project(name=store.project, description=store.config.project_description or "")
    desired = RepoContents(
        projects=[project],
        data_sources=[source],
        feature_views=[view],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        entities=[customer, DUMMY_ENTITY],
        feature_services=[service],
        permissions=[],
    )
    registry_diff, _, _ = store.plan(desired)
    changes = []
    for diff in registry_diff.feast_object_diffs:
        properties = [p.property_name for p in diff.feast_object_property_diffs if not _only_meta_differs(p)]
        change = diff.transition_type.name
        if change == "UPDATE" and not properties:
            change = "UNCHANGED"
        changes.append(ObjectChange(diff.feast_object_type.name, diff.name, change, properties))
    stale = [
        diff.current_feast_object
        for diff in registry_diff.feast_object_diffs
        if diff.transition_type == TransitionType.DELETE and diff.current_feast_object is not None
    ]
    store.apply([project, customer, source, view, service], objects_to_delete=stale, partial=False)
    return changes


def _only_meta_differs(property_diff) -> bool:
    """Whether two protobuf values differ only in their ``meta`` (created/updated timestamps).

    Once a view is materialized, Feast re-stamps its batch source's meta, so every later plan would
    report the view as updated.
    """
    existing, declared = property_diff.val_existing, property_diff.val_declared
    if not (hasattr(existing, "CopyFrom") and type(existing) is type(declared)):
        return False
    stripped = []
    for value in (existing, declared):
        copy = type(value)()
        copy.CopyFrom(value)
        if "meta" in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField("meta")
        stripped.append(copy)
    return stripped[0] == stripped[1]
