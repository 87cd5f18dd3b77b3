{#- One row per customer per snapshot day D (customers signed up before D + 1 day), using only orders
    with order_ts < D + 1 day. Instead of joining every snapshot to every order, per-customer daily order
    totals and the snapshot rows are put on one timeline and summed with range windows over the day number;
    a window frame ending at the current row never sees a later day. Incremental: only the snapshot days from
    the window start on (macros/incremental_gold.sql); the timeline keeps the daily orders of the last 90 days
    before the window (the longest frame) and folds every earlier order into one row per customer, so the
    window functions cover a few months whatever the history's length.
    Money is summed as DECIMAL (exact, so the result does not depend on the order a parallel aggregation adds
    rows in) and exposed as DOUBLE, the nearest double to the exact value, which is what Feast (Float64) and
    training read. -#}
{{ config(pre_hook=gold_pre_hooks()) }}
{%- set window_start = gold_window_start_day() %}
with customers as (
    select customer_id, {{ day_number('signup_ts') }} as signup_day_number
    from {{ ref('dim_customers') }}
),

snapshots as (
    select day_number, as_of_day_number from {{ ref('snapshot_days') }}
    {%- if window_start is not none %}
    where day_number >= {{ window_start }}
    {%- endif %}
),

daily_orders as (
    select
        customer_id,
        {{ day_number('order_ts') }} as day_number,
        count(*) as orders,
        sum(amount) as amount,
        max({{ day_number('order_ts') }}) as last_order_day_number
    from {{ ref('fct_orders') }}
    where order_ts < {{ midnight_timestamp('(select max(as_of_day_number) + 1 from snapshots)') }}
    {%- if window_start is not none %}
        and order_ts >= {{ midnight_timestamp(window_start - 89) }}
    {%- endif %}
    group by 1, 2
),

{%- if window_start is not none %}

{#- every order before the 90-day frames of the rebuilt days, as one row per customer on a day no such frame
    reaches: only the lifetime sums and the last order day see it -#}
earlier_orders as (
    select
        customer_id,
        cast({{ window_start - 90 }} as bigint) as day_number,
        count(*) as orders,
        sum(amount) as amount,
        max({{ day_number('order_ts') }}) as last_order_day_number
    from {{ ref('fct_orders') }}
    where order_ts < {{ midnight_timestamp(window_start - 89) }}
    group by 1
),
{%- endif %}

timeline as (
    select
        customer_id, day_number, orders, amount, last_order_day_number, false as is_snapshot,
        cast(null as bigint) as signup_day_number
    from daily_orders
    {%- if window_start is not none %}
    union all
    select customer_id, day_number, orders, amount, last_order_day_number, false, cast(null as bigint)
    from earlier_orders
    {%- endif %}
    union all
    select
        customers.customer_id, snapshots.day_number, 0, cast(0 as decimal(18, 2)), cast(null as bigint), true,
        customers.signup_day_number
    from customers
    join snapshots on snapshots.day_number >= customers.signup_day_number
),

windowed as (
    select
        customer_id,
        day_number,
        is_snapshot,
        signup_day_number,
        sum(orders) over (customer_history range between unbounded preceding and current row) as lifetime_orders,
        sum(amount) over (customer_history range between unbounded preceding and current row) as lifetime_value,
        sum(orders) over (customer_history range between 29 preceding and current row) as order_count_30d,
        sum(orders) over (customer_history range between 89 preceding and current row) as order_count_90d,
        max(last_order_day_number)
            over (customer_history range between unbounded preceding and current row) as last_order_day_number
    from timeline
    window customer_history as (partition by customer_id order by day_number)
),

features as (
    select
        customer_id,
        day_number,
        cast(lifetime_value as double) as lifetime_value,
        cast(order_count_30d as bigint) as order_count_30d,
        cast(order_count_90d as bigint) as order_count_90d,
        case when lifetime_orders > 0 then cast(lifetime_value as double) / lifetime_orders else 0 end
            as avg_order_value,
        cast(day_number - coalesce(last_order_day_number, signup_day_number) as bigint) as days_since_last_order,
        cast(day_number - signup_day_number as bigint) as tenure_days,
        lifetime_orders
    from windowed
    where is_snapshot
)

select
    customer_id,
    {{ midnight_timestamp('day_number') }} as event_timestamp,
    lifetime_value,
    order_count_30d,
    order_count_90d,
    avg_order_value,
    days_since_last_order,
    tenure_days,
    case
        when tenure_days < 30 then 'new'
        when days_since_last_order > 90 then 'dormant'
        when days_since_last_order > 45 or lifetime_orders = 0 then 'at_risk'
        when order_count_90d >= 4 then 'loyal'
        else 'active'
    end as customer_segment
from features
{{ gold_storage_order() }}
