{#- dbt-duckdb's external materialization builds the model into a table, then runs `copy <table> to <file>`.
    With preserve_insertion_order false (profiles.yml) neither keeps any row order, so two builds of the same
    data wrote the same rows in different orders (different bytes). This override of the adapter's macro
    writes the rows sorted instead: a COPY of an ordered query keeps its order whatever that setting. Gold
    rows are unique on their leading columns (customer_id, event_timestamp), so `order by all` is that
    key order. -#}
{% macro write_to_file(relation, location, options) -%}
  {% call statement('write_to_file') -%}
    copy (select * from {{ relation }} order by all) to '{{ location }}' ({{ options }})
  {%- endcall %}
{% endmacro %}
