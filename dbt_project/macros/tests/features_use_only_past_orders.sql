{#- Point-in-time guard: recompute the order-based features of every feature row straight from the orders
    with order_ts < D + 1 day (independent of the model's window technique) and return the rows that
    disagree. A feature computed from a later order shows up here (tests/gold/test_point_in_time_leak.py).
    How the orders are recomputed depends on the engine (`recomputed_from_orders`). -#}
{% test features_use_only_past_orders(model, orders) %}
with features as (
    select customer_id, event_timestamp, lifetime_value, order_count_30d, order_count_90d, days_since_last_order,
        tenure_days
    from {{ model }}
),

recomputed as (
{{ adapter.dispatch('recomputed_from_orders')(orders) }}
)

select
    features.*,
    recomputed.lifetime_value as expected_lifetime_value,
    recomputed.order_count_30d as expected_order_count_30d,
    recomputed.order_count_90d as expected_order_count_90d,
    recomputed.last_order_ts
from features
join recomputed
    on recomputed.customer_id = features.customer_id
    and recomputed.event_timestamp = features.event_timestamp
where abs(features.lifetime_value - recomputed.lifetime_value) > 1e-6 * (1 + abs(recomputed.lifetime_value))
    or features.order_count_30d <> recomputed.order_count_30d
    or features.order_count_90d <> recomputed.order_count_90d
    or features.days_since_last_order < 0
    or features.days_since_last_order > features.tenure_days
    or (recomputed.last_order_ts is not null and features.days_since_last_order
        <> date_diff('day', cast(recomputed.last_order_ts as date), cast(features.event_timestamp as date)))
{% endtest %}

{#- Per row of `features`: a plain range join of every feature row to its customer's earlier orders (Trino
    has no as-of join). -#}
{% macro default__recomputed_from_orders(orders) %}
    select
        features.customer_id,
        features.event_timestamp,
        coalesce(sum(orders.amount), 0) as lifetime_value,
        count(case when orders.order_ts >= features.event_timestamp - interval '29' day then 1 end)
            as order_count_30d,
        count(case when orders.order_ts >= features.event_timestamp - interval '89' day then 1 end)
            as order_count_90d,
        max(orders.order_ts) as last_order_ts
    from features
    left join {{ orders }} as orders
        on orders.customer_id = features.customer_id
        and orders.order_ts < features.event_timestamp + interval '1' day
    group by 1, 2
{% endmacro %}

{#- DuckDB: running totals per customer in order_ts order (peers at one instant together), and for each
    feature row the last totals before D + 1 day, D - 29 days and D - 89 days (as-of joins); the window counts
    are differences. One sort of the orders and three merges instead of every row times every order. -#}
{% macro duckdb__recomputed_from_orders(orders) %}
    with running as (
        select
            customer_id,
            order_ts,
            sum(amount) over customer_time as amount_to_date,
            count(*) over customer_time as orders_to_date
        from {{ orders }}
        window customer_time as (
            partition by customer_id order by order_ts range between unbounded preceding and current row
        )
    )

    select
        features.customer_id,
        features.event_timestamp,
        coalesce(upto.amount_to_date, 0) as lifetime_value,
        coalesce(upto.orders_to_date, 0) - coalesce(before_30d.orders_to_date, 0) as order_count_30d,
        coalesce(upto.orders_to_date, 0) - coalesce(before_90d.orders_to_date, 0) as order_count_90d,
        upto.order_ts as last_order_ts
    from features
    asof left join running as upto
        on upto.customer_id = features.customer_id
        and upto.order_ts < features.event_timestamp + interval '1' day
    asof left join running as before_30d
        on before_30d.customer_id = features.customer_id
        and before_30d.order_ts < features.event_timestamp - interval '29' day
    asof left join running as before_90d
        on before_90d.customer_id = features.customer_id
        and before_90d.order_ts < features.event_timestamp - interval '89' day
{% endmacro %}
