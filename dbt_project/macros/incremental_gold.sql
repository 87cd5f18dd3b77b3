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

{#- The pre-hooks of an incremental gold model, in order: record the window this run rebuilds in
    gold.gold_build_windows (read by the model's data tests, whose `where` config scopes them to the rebuilt
    days: models/gold/gold.yml), then drop the rows of those days. The window is recorded before the delete,
    which changes the table it is computed from. On DuckDB all of it is one transaction with the insert. -#}
{% macro gold_pre_hooks(offset_days=0) -%}
    {{ return([
        "delete from " ~ gold_windows_table() ~ " where model = '{{ this.identifier }}'",
        "{{ record_gold_window(" ~ offset_days ~ ") }}",
        "{{ delete_gold_window(" ~ offset_days ~ ") }}",
    ]) }}
{%- endmacro %}

{#- One row per gold model: the first snapshot day (midnight) its last run rebuilt; null after a full build, so
    the tests read the whole table. Layer schemas are named as is (macros/generate_schema_name.sql). Created by
    the project's on-run-start hook, once, not by the gold models' hooks: they run concurrently, and two DuckDB
    transactions creating the same table conflict. -#}
{% macro gold_windows_table() -%}
    {{ var('namespaces')['gold'] }}.gold_build_windows
{%- endmacro %}

{% macro create_gold_windows_table() -%}
    create table if not exists {{ gold_windows_table() }} (model varchar, window_start {{ gold_timestamp_type() }})
{%- endmacro %}

{% macro record_gold_window(offset_days=0) -%}
    {%- set start = gold_window_start_day(offset_days) -%}
    insert into {{ gold_windows_table() }} (model, window_start) values (
        '{{ this.identifier }}',
        {{ midnight_timestamp(start) if start is not none else 'cast(null as ' ~ gold_timestamp_type() ~ ')' }}
    )
{%- endmacro %}

{% macro gold_timestamp_type() -%}
    {{ 'timestamp' if target.type == 'duckdb' else 'timestamp(6)' }}
{%- endmacro %}

{% macro delete_gold_window(offset_days=0) -%}
    {%- set start = gold_window_start_day(offset_days) -%}
    {%- if start is not none -%}
        delete from {{ this }} where event_timestamp >= {{ midnight_timestamp(start) }}
    {%- endif -%}
{%- endmacro %}

{#- The last clause of a gold model on DuckDB: rows are inserted in (snapshot day, customer) order. An
    incremental run deletes a suffix of days and appends later ones, so the table stays in that order as
    stored, and the export below writes it without sorting the whole history again (DuckDB keeps insertion
    order for a plain scan: `preserve_insertion_order`, on by default). Trino/Iceberg does not need it. -#}
{% macro gold_storage_order() -%}
    {%- if target.type == 'duckdb' -%}
        order by event_timestamp, customer_id
    {%- endif -%}
{%- endmacro %}

{#- post-hook, DuckDB only: the gold table as one Parquet file in the profile's external_root, what Feast and
    training read. In snapshot-day order (gold_storage_order) so that every row group covers one or two days
    and readers that filter on event_timestamp skip the others by the row-group statistics. A sequential
    write of the table: about 4x cheaper than sorting it again at a million customers. -#}
{% macro export_gold_parquet() -%}
    {%- if target.type == 'duckdb' -%}
        copy (select * from {{ this }})
        to '{{ adapter.external_root() }}/{{ this.identifier }}.parquet' (format parquet, row_group_size 100000)
    {%- endif -%}
{%- endmacro %}
