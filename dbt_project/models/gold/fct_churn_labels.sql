{#- churned = 1 when the customer places no order with order_ts in [D + 1 day, D + 1 day + horizon), for
    every grid day D whose horizon has passed (D + horizon <= as_of). Same timeline technique as
    fct_customer_features, with a window frame that looks forward instead of back. Incremental: only the grid
    days from the window start on, i.e. labels whose horizon closed since the last run or still sees the
    lookback window (macros/incremental_gold.sql). -#}
{%- set horizon = var('label_horizon_days') | int -%}
{{ config(pre_hook=gold_pre_hooks(horizon)) }}
{%- set window_start = gold_window_start_day(horizon) %}

with customers as (
    select customer_id, {{ day_number('signup_ts') }} as signup_day_number
    from {{ ref('dim_customers') }}
),

label_days as (
    select day_number
    from {{ ref('snapshot_days') }}
    where is_grid_day and day_number + {{ horizon }} <= as_of_day_number
    {%- if window_start is not none %}
        and day_number >= {{ window_start }}
    {%- endif %}
),

daily_orders as (
    select customer_id, {{ day_number('order_ts') }} as day_number, count(*) as orders
    from {{ ref('fct_orders') }}
    {%- if window_start is not none %}
    {#- a label for D >= the window start only sees orders from D + 1 day on -#}
    where order_ts >= {{ midnight_timestamp(window_start + 1) }}
    {%- endif %}
    group by 1, 2
),

timeline as (
    select customer_id, day_number, orders, false as is_snapshot
    from daily_orders
    union all
    select customers.customer_id, label_days.day_number, 0, true
    from customers
    join label_days on label_days.day_number >= customers.signup_day_number
),

windowed as (
    select
        customer_id,
        day_number,
        is_snapshot,
        sum(orders) over (
            partition by customer_id order by day_number range between 1 following and {{ horizon }} following
        ) as orders_in_horizon
    from timeline
)

select
    customer_id,
    {{ midnight_timestamp('day_number') }} as event_timestamp,
    cast(case when coalesce(orders_in_horizon, 0) = 0 then 1 else 0 end as integer) as churned
from windowed
where is_snapshot
{{ gold_storage_order() }}
