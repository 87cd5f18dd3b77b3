"""Changed-only online writes and request-time features, on a small consistent world (sqlite and Redis).

A week of daily refreshes: each day only the customers whose stored values changed are written, and
the features served (the model server's lookup and the Feast SDK read of the skew check) equal the
offline point-in-time features of that day, also for customers last written days before.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse_ml.platform.settings import Settings
from tests.support.features_fixtures import world_gold, write_gold
from tests.support.redis_keys import delete_project_keys

START = (date(2024, 6, 2) - date(1970, 1, 1)).days  # the first write's day number
SIGNUPS = {
    "c0": START - 200,
    "c1": START - 300,
    "c2": START - 28,  # tenure 30 on day 2: "new" -> "at_risk"
    "c3": START - 500,  # dormant all week: written on day 0 only
    "c4": START + 3,  # signs up on day 3
    "c5": START - 400,  # loyal all week: written on day 0 only
    "c6": START - 100,  # 46 days since its order on day 6: "active" -> "at_risk"
}
ORDERS = {
    "c0": [(START - 10, 50.0), (START + 2, 30.25)],  # orders on day 2
    "c1": [(START - 60, 10.0), (START - 29, 20.0)],  # an order leaves the 30-day window on day 1
    "c3": [(START - 200, 99.5)],
    "c5": [(START - 20, 12.5), (START - 15, 7.75), (START - 12, 30.0), (START - 5, 1.0)],
    "c6": [(START - 40, 15.0)],
}
# Who each day's write must write: everyone existing on day 0, then exactly the changed customers.
WRITTEN = [{"c0", "c1", "c2", "c3", "c5", "c6"}, {"c1"}, {"c0", "c2"}, {"c4"}, set(), set(), {"c6"}]
CUSTOMERS = sorted(SIGNUPS)


def _clock(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def _snapshot_days(store, customers: list[str]) -> dict[str, date | None]:
    """The snapshot day of each customer's online row (the day it was last written for)."""
    response = store.get_online_features(
        features=["customer_features:lifetime_value"], entity_rows=[{"customer_id": c} for c in customers]
    ).to_dict(include_event_timestamps=True)
    stamps = response["lifetime_value__ts"]
    return {
        c: datetime.fromtimestamp(s, UTC).date() if s else None
        for c, s in zip(customers, stamps, strict=True)
    }


def _offline(store, customers: list[str], as_of: datetime):
    import pandas as pd

    from lakehouse_ml.features.training_set import build_training_set

    entity_df = pd.DataFrame({"customer_id": customers, "event_timestamp": as_of})
    return build_training_set(store, entity_df)


def _week_of_refreshes(store, home, gold_source) -> None:
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.consistency import online_offline_mismatches
    from lakehouse_ml.features.online_write import refresh_online
    from lakehouse_ml.features.store import FEATURE_NAMES
    from lakehouse_ml.serving.online_lookup import OnlineFeatures

    for day, expected in enumerate(WRITTEN):
        write_gold(home, world_gold(SIGNUPS, ORDERS, list(range(START - 14, START + day + 1))))
        if day == 0:
            apply_definitions(store, gold_source)
        result = refresh_online(store, gold_source)
        clock = _clock(START + day)
        existing = [c for c in CUSTOMERS if SIGNUPS[c] <= START + day]
        assert result.end == clock
        assert (result.full, result.entities, result.written) == (day == 0, len(existing), len(expected))
        snapshot_days = _snapshot_days(store, existing)
        assert {c for c, d in snapshot_days.items() if d == clock.date()} == expected, f"day {day}"

        # the request-time features equal the offline (point-in-time) ones, for every customer
        assert online_offline_mismatches(store, existing, clock) == []
        offline = _offline(store, existing, clock)[FEATURE_NAMES]
        rows, as_of_days = OnlineFeatures(store).rows_and_days(existing, FEATURE_NAMES)
        assert rows == offline.to_numpy().tolist()
        assert as_of_days == [clock.date()] * len(existing)

        again = refresh_online(store, gold_source)  # nothing changed since: nothing written
        assert (again.full, again.written, again.unchanged) == (False, 0, len(existing))

    # served correctly six days after their last write
    assert _snapshot_days(store, ["c3", "c5"]) == {"c3": _clock(START).date(), "c5": _clock(START).date()}


def test_a_week_of_changed_only_writes_serves_the_offline_features(lakehouse_home):
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    settings = Settings.from_env()
    _week_of_refreshes(feature_store(settings), lakehouse_home, gold_source(settings))


@pytest.mark.redis
def test_a_week_of_changed_only_writes_into_redis(lakehouse_home, redis_url):
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import local_store_config, redis_connection_string, store_from_config

    settings = Settings.from_env()
    project = f"lakehouse_ml_test_{uuid.uuid4().hex[:12]}"  # Redis keys end with the project name
    config = local_store_config(settings.feast_dir)
    config["project"] = project
    config["online_store"] = {"type": "redis", "connection_string": redis_connection_string(redis_url)}
    try:
        _week_of_refreshes(store_from_config(config), lakehouse_home, gold_source(settings))
    finally:
        delete_project_keys(redis_url, project)


@pytest.fixture
def written(lakehouse_home):
    """A store written once for day 2 of the world."""
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.online_write import refresh_online
    from lakehouse_ml.features.store import feature_store

    settings = Settings.from_env()
    gold = world_gold(SIGNUPS, ORDERS, list(range(START - 14, START + 3)))
    write_gold(lakehouse_home, gold)
    store, source = feature_store(settings), gold_source(settings)
    apply_definitions(store, source)
    assert refresh_online(store, source).full
    return store, source, gold


def test_a_changed_value_is_written_for_that_customer_only(written, lakehouse_home):
    from lakehouse_ml.features.online_write import refresh_online

    store, source, gold = written
    last = gold["event_timestamp"] == gold["event_timestamp"].max()
    gold.loc[last & (gold["customer_id"] == "c3"), "lifetime_value"] += 0.01
    write_gold(lakehouse_home, gold)
    result = refresh_online(store, source)
    assert (result.full, result.written) == (False, 1)
    assert _snapshot_days(store, ["c3"]) == {"c3": _clock(START + 2).date()}


def _forget_the_record(store, source) -> None:
    from lakehouse_ml.features.online_write import online_state_uri

    Path(online_state_uri(source)).unlink()


def _empty_the_online_store(store, source) -> None:
    online, view = store._get_provider().online_store, store.get_feature_view("customer_features")
    online.teardown(store.config, [view], [])
    online.update(store.config, [], [view], [], [], partial=False)


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [(_forget_the_record, "first write"), (_empty_the_online_store, "online store's clock")],
    ids=["no-record", "emptied-online-store"],
)
def test_everyone_is_written_when_the_previous_write_cannot_be_trusted(written, breakage, reason):
    from lakehouse_ml.features.online_write import refresh_online

    store, source, _ = written
    breakage(store, source)
    result = refresh_online(store, source)
    assert result.full and result.written == result.entities == 6
    assert reason in result.reason


def test_skew_check_fails_on_a_planted_stored_day_count(written):
    from lakehouse_ml.features.consistency import online_offline_mismatches

    store, source, gold = written
    clock = _clock(START + 2)
    assert online_offline_mismatches(store, CUSTOMERS[:4], clock) == []
    planted = gold[
        (gold["customer_id"] == "c5") & (gold["event_timestamp"] == gold["event_timestamp"].max())
    ].copy()
    planted["days_since_last_order"] += 1
    store.write_to_online_store("customer_features", planted)
    mismatches = online_offline_mismatches(store, CUSTOMERS[:6], clock)
    assert {(m.customer_id, m.feature) for m in mismatches} == {("c5", "days_since_last_order")}
