{#- Incremental gold by snapshot day. A run rebuilds the snapshot days from the window start on and keeps the
    older ones. window start = least(as_of - offset, the latest day already built) - gold_lookback_days, where
    offset is 0 for features and label_horizon_days for labels (a label for D reads orders up to D +
    horizon). The latest day already built is the previous run's clock: every order that lands after that run
    and was placed at most gold_lookback_days before it falls inside the window, whatever the schedule's
    cadence, and the previous run's off-grid as_of row is replaced. A full refresh (`dbt build
    --full-refresh`) builds every day and gives the same rows. -#}

{% macro gold_window_start_day(offset_days=0) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set sql -%}
        select least(
            (select max(as_of_day_number) from {{ ref('snapshot_days') }}) - {{ offset_days }},
            coalesce(
                (select max({{ day_number('event_timestamp') }}) from {{ this }}),
                (select max(as_of_day_number) from {{ ref('snapshot_days') }}) - {{ offset_days }}
            )
        ) - {{ var('gold_lookback_days') | int }}
    {%- endset -%}
    {{ return(run_query(sql).columns[0].values()[0] | int) }}
{%- endmacro %}

{#- pre-hook of an incremental gold model: drop the rows of the days this run rebuilds (same transaction as the
    insert on DuckDB). -#}
{% macro delete_gold_window(offset_days=0) -%}
    {%- set start = gold_window_start_day(offset_days) -%}
    {%- if start is not none -%}
        delete from {{ this }} where event_timestamp >= {{ midnight_timestamp(start) }}
    {%- endif -%}
{%- endmacro %}

{#- post-hook, DuckDB only: the gold table as one Parquet file in the profile's external_root, what Feast and
    training read. Sorted by snapshot day so that every row group covers one or two days and readers that
    filter on event_timestamp skip the others by the row-group statistics. -#}
{% macro export_gold_parquet() -%}
    {%- if target.type == 'duckdb' -%}
        copy (select * from {{ this }} order by event_timestamp, customer_id)
        to '{{ adapter.external_root() }}/{{ this.identifier }}.parquet' (format parquet, row_group_size 100000)
    {%- endif -%}
{%- endmacro %}
