{#- Point-in-time guard: recompute the order-based features of every feature row straight from the orders
    with order_ts < D + 1 day (a plain range join, independent of the model's window technique) and return
    the rows that disagree. A feature computed from a later order shows up here. -#}
{% test features_use_only_past_orders(model, orders) %}
with features as (
    select customer_id, event_timestamp, lifetime_value, order_count_30d, order_count_90d, days_since_last_order,
        tenure_days
    from {{ model }}
),

recomputed as (
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
