"""Monitoring SQL, written once for DuckDB (local) and Trino (prod).

Table names are placeholders (``{predictions}``, ``{orders}``, ``{features}``) that the query engine
fills in; parameters are rendered from typed values (dates, ints) only, never from free text. Only
functions both engines share are used: ``date_diff('day', a, b)``, ``CAST(.. AS DATE)``, window
``RANK``/``COUNT``, ``CASE``. The prediction log's ``prediction`` and ``actual`` are BOOLEAN and used as
such (Trino does not compare a boolean with an integer); ``prediction_id`` is a UUID.

The label rule is the one of the dbt model ``fct_churn_labels``: a customer observed on day D has
churned when they place no order with ``order_ts`` in [D + 1 day, D + 1 day + horizon), i.e. no
order on the calendar days D + 1 .. D + horizon; it is known once D + horizon <= the pipeline clock.

A prediction's day D is its ``scoring_day``, the pipeline-clock day of the features it scored (the data's
own calendar, as the clock above), never the wall-clock day it was logged on: replays of a past calendar
(the simulator, CDNOW's 1997) then get labels exactly as production does. Rows logged before the column
existed have none and fall back to the day of ``prediction_timestamp`` (``SCORING_DAY``).
"""

from __future__ import annotations

from datetime import date

SCORING_DAY = "COALESCE(scoring_day, CAST(prediction_timestamp AS DATE))"


def _day(value: date) -> str:
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return f"DATE '{value.isoformat()}'"


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def label_rule_sql(subjects: str, horizon_days: int, offset_days: int = 0) -> str:
    """Label ``subjects`` (a query with ``subject_id``, ``customer_id``, ``day`` DATE) by the churn rule.

    Returns the subjects' columns and ``churned`` (1 = no order on days ``day`` + offset + 1 .. ``day`` +
    horizon; offset 0 is exactly the rule of ``fct_churn_labels``).
    """
    horizon = _positive(horizon_days, "horizon_days")
    if isinstance(offset_days, bool) or not isinstance(offset_days, int) or not 0 <= offset_days < horizon:
        raise ValueError(f"offset_days must be an integer in [0, {horizon}), got {offset_days!r}")
    return f"""
WITH subjects AS ({subjects}),
ordered AS (
    SELECT DISTINCT s.subject_id
    FROM subjects s
    JOIN {{orders}} o ON o.customer_id = s.customer_id
    WHERE date_diff('day', s.day, CAST(o.order_ts AS DATE)) BETWEEN {offset_days + 1} AND {horizon}
)
SELECT s.*, CASE WHEN ordered.subject_id IS NULL THEN 1 ELSE 0 END AS churned
FROM subjects s
LEFT JOIN ordered ON ordered.subject_id = s.subject_id
"""


def due_actuals_sql(as_of: date, horizon_days: int) -> str:
    """Predictions without an actual whose horizon has passed since their scoring day, labelled by the churn
    rule: ``subject_id, customer_id, day`` (the scoring day), ``prediction_day`` (the day partition of
    ``prediction_timestamp`` the row is stored in) and ``churned``."""
    horizon = _positive(horizon_days, "horizon_days")
    subjects = f"""
    SELECT prediction_id AS subject_id, customer_id, {SCORING_DAY} AS day,
           CAST(prediction_timestamp AS DATE) AS prediction_day
    FROM {{predictions}}
    WHERE actual IS NULL
      AND date_diff('day', {SCORING_DAY}, {_day(as_of)}) >= {horizon}"""
    return label_rule_sql(subjects, horizon)


def snapshot_outcomes_sql(day: date, horizon_days: int, offset_days: int = 0) -> str:
    """Feature rows of snapshot ``day`` with their outcome (see ``label_rule_sql``)."""
    subjects = f"""
    SELECT customer_id AS subject_id, customer_id, CAST(event_timestamp AS DATE) AS day
    FROM {{features}}
    WHERE CAST(event_timestamp AS DATE) = {_day(day)}"""
    return f"""
WITH outcomes AS ({label_rule_sql(subjects, horizon_days, offset_days)})
SELECT f.*, outcomes.churned
FROM {{features}} f
JOIN outcomes ON outcomes.subject_id = f.customer_id
WHERE CAST(f.event_timestamp AS DATE) = {_day(day)}
"""


def snapshot_days_sql() -> str:
    return "SELECT DISTINCT CAST(event_timestamp AS DATE) AS day FROM {features} ORDER BY day"


def latest_labelled_day_sql(until: date) -> str:
    """The newest scoring day with actuals, among those on or before ``until``."""
    return (
        f"SELECT max({SCORING_DAY}) AS day FROM {{predictions}} "
        f"WHERE actual IS NOT NULL AND {SCORING_DAY} <= {_day(until)}"
    )


def daily_performance_sql(start: date, end: date) -> str:
    """Per scoring day and model version: counts, accuracy, precision, recall and ROC AUC.

    ROC AUC is the Mann-Whitney statistic on average ranks (ties share their mean rank), so it needs
    no client-side maths and matches scikit-learn's ``roc_auc_score``.
    """
    return f"""
WITH scored AS (
    SELECT {SCORING_DAY} AS day, model_version, prediction, confidence, actual
    FROM {{predictions}}
    WHERE {SCORING_DAY} BETWEEN {_day(start)} AND {_day(end)}
),
ranked AS (
    SELECT day, model_version, prediction, actual,
           RANK() OVER (PARTITION BY day, model_version ORDER BY confidence)
             + (COUNT(*) OVER (PARTITION BY day, model_version, confidence) - 1) / 2.0 AS score_rank
    FROM scored
    WHERE actual IS NOT NULL
),
labelled AS (
    SELECT day, model_version,
           COUNT(*) AS labelled_count,
           SUM(CASE WHEN prediction = actual THEN 1 ELSE 0 END) AS correct,
           SUM(CASE WHEN prediction AND actual THEN 1 ELSE 0 END) AS tp,
           SUM(CASE WHEN prediction AND NOT actual THEN 1 ELSE 0 END) AS fp,
           SUM(CASE WHEN NOT prediction AND actual THEN 1 ELSE 0 END) AS fn,
           SUM(CASE WHEN actual THEN 1 ELSE 0 END) AS positives,
           SUM(CASE WHEN actual THEN score_rank ELSE 0 END) AS positive_rank_sum
    FROM ranked
    GROUP BY day, model_version
),
volume AS (
    SELECT day, model_version, COUNT(*) AS prediction_count
    FROM scored
    GROUP BY day, model_version
)
SELECT v.day, v.model_version, v.prediction_count,
       COALESCE(l.labelled_count, 0) AS labelled_count,
       COALESCE(l.correct, 0) AS correct,
       COALESCE(l.tp, 0) AS tp, COALESCE(l.fp, 0) AS fp, COALESCE(l.fn, 0) AS fn,
       CAST(l.correct AS DOUBLE) / l.labelled_count AS accuracy,
       CASE WHEN l.tp + l.fp > 0 THEN CAST(l.tp AS DOUBLE) / (l.tp + l.fp) END AS precision,
       CASE WHEN l.tp + l.fn > 0 THEN CAST(l.tp AS DOUBLE) / (l.tp + l.fn) END AS recall,
       CASE WHEN l.positives > 0 AND l.positives < l.labelled_count
            THEN (l.positive_rank_sum - l.positives * (l.positives + 1) / 2.0)
                 / (CAST(l.positives AS DOUBLE) * (l.labelled_count - l.positives))
       END AS roc_auc
FROM volume v
LEFT JOIN labelled l ON l.day = v.day AND l.model_version = v.model_version
ORDER BY v.day, v.model_version
"""


def snapshot_sql(day: date) -> str:
    return f"SELECT * FROM {{features}} WHERE CAST(event_timestamp AS DATE) = {_day(day)}"


def recent_predictions_sql(model_version: str, start: date, end: date) -> str:
    """Logged predictions of one model version scored on days ``start`` .. ``end`` (``day``: scoring day)."""
    if not model_version.replace("-", "").replace("_", "").replace(".", "").replace("@", "").isalnum():
        raise ValueError(f"model version {model_version!r} has characters a version never has")
    return f"""
SELECT prediction_id, customer_id, prediction, confidence, prediction_timestamp, {SCORING_DAY} AS day
FROM {{predictions}}
WHERE model_version = '{model_version}'
  AND {SCORING_DAY} BETWEEN {_day(start)} AND {_day(end)}
"""


def live_vs_registered_sql(start: date, end: date) -> str:
    """Per model version: predictions made on days ``start`` .. ``end``, the share correct among those with
    an actual, next to the accuracy and ROC AUC the version was registered with (``{model_versions}``,
    the registry's catalog table): how far each version's live accuracy fell from its evaluation."""
    return f"""
SELECT p.model_version,
       COUNT(*) AS prediction_count,
       SUM(CASE WHEN p.actual IS NULL THEN 0 ELSE 1 END) AS labelled_count,
       AVG(CASE WHEN p.actual IS NULL THEN NULL WHEN p.prediction = p.actual THEN 1.0 ELSE 0.0 END)
         AS live_accuracy,
       MAX(v.accuracy) AS registered_accuracy,
       MAX(v.roc_auc) AS registered_roc_auc
FROM {{predictions}} p
LEFT JOIN {{model_versions}} v ON v.version = p.model_version
WHERE CAST(p.prediction_timestamp AS DATE) BETWEEN {_day(start)} AND {_day(end)}
GROUP BY p.model_version
ORDER BY p.model_version
"""
