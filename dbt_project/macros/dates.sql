{#- Portable day arithmetic for DuckDB (local) and Trino (prod): days are integers since 1970-01-01. -#}

{% macro day_number(expr) -%}
    date_diff('day', date '1970-01-01', cast({{ expr }} as date))
{%- endmacro %}

{% macro day_from_number(expr) -%}
    {%- if target.type == 'duckdb' -%}
        (date '1970-01-01' + cast({{ expr }} as integer))
    {%- else -%}
        date_add('day', {{ expr }}, date '1970-01-01')
    {%- endif -%}
{%- endmacro %}

{% macro midnight_timestamp(day_number_expr) -%}
    {%- if target.type == 'duckdb' -%}
        cast({{ day_from_number(day_number_expr) }} as timestamp)
    {%- else -%}
        cast({{ day_from_number(day_number_expr) }} as timestamp(6))
    {%- endif -%}
{%- endmacro %}

{#- select `day_number` = start, start + step, ... <= stop (inclusive), one series per row of `relation`. -#}
{% macro select_integer_series(relation, start_col, stop_col, step) -%}
    {%- if target.type == 'duckdb' -%}
        select unnest(range({{ start_col }}, {{ stop_col }} + 1, {{ step }})) as day_number from {{ relation }}
    {%- else -%}
        select series.day_number from {{ relation }}
        cross join unnest(sequence({{ start_col }}, {{ stop_col }}, {{ step }})) as series(day_number)
        where {{ start_col }} <= {{ stop_col }}
    {%- endif -%}
{%- endmacro %}
