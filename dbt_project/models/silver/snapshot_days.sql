{#- The snapshot days of the gold models: the fixed grid (every snapshot_interval_days, anchored at
    snapshot_anchor_day) from the first signup up to as_of, plus as_of itself. as_of is the dbt var when
    given, else the day before the latest order day (the latest day of an extract may be partial). -#}
{%- set interval = var('snapshot_interval_days') | int -%}
{%- set anchor = day_number("date '" ~ var('snapshot_anchor_day') ~ "'") -%}

with bounds as (
    select
        {% if var('as_of') -%}
        {{ day_number("date '" ~ var('as_of') ~ "'") }}
        {%- else -%}
        (select max({{ day_number('order_ts') }}) - 1 from {{ ref('fct_orders') }})
        {%- endif %} as as_of_day_number,
        (select min({{ day_number('signup_ts') }}) from {{ ref('dim_customers') }}) as first_day_number
),

grid_bounds as (
    select
        as_of_day_number,
        -- first grid day on or after the first signup (the modulo is kept non-negative)
        first_day_number + ((({{ anchor }} - first_day_number) % {{ interval }}) + {{ interval }}) % {{ interval }}
            as first_grid_day_number
    from bounds
    where as_of_day_number is not null and first_day_number is not null
),

days as (
    {{ select_integer_series('grid_bounds', 'first_grid_day_number', 'as_of_day_number', interval) }}
    union
    select as_of_day_number from grid_bounds
)

select
    cast(days.day_number as bigint) as day_number,
    {{ day_from_number('days.day_number') }} as snapshot_date,
    {{ midnight_timestamp('days.day_number') }} as event_timestamp,
    ((days.day_number - {{ anchor }}) % {{ interval }}) = 0 as is_grid_day,
    cast(grid_bounds.as_of_day_number as bigint) as as_of_day_number
from days
cross join grid_bounds
