"""Data weeks: monitoring results are keyed by the week of the pipeline clock, the data's own calendar
(CDNOW's 1997 and the simulator's dates alike), never the wall clock's."""

from __future__ import annotations

from datetime import date, timedelta

# a Sunday, the anchor of gold's weekly snapshot grid (dbt_project: snapshot_days): one grid day per week
WEEK_ANCHOR = date(2020, 1, 5)


def data_week(day: date) -> str:
    """The week holding ``day``, named by its first day (a Sunday, the grid's weekday), as YYYY-MM-DD."""
    if not isinstance(day, date):
        raise TypeError(f"expected a date, got {day!r}")
    return (day - timedelta(days=(day - WEEK_ANCHOR).days % 7)).isoformat()


def clock_week(last_order_day: date) -> str:
    """The data week of the pipeline clock that orders up to ``last_order_day`` give: gold's default clock
    is the day before the last order day (``Settings.as_of``)."""
    return data_week(last_order_day - timedelta(days=1))
