{#- A model's layer (bronze, silver, gold) is built in the catalog namespace the var `namespaces` maps it to
    (lakehouse_ml/platform/catalog_names.py), not prefixed with the target schema; other nodes (test audit
    tables) keep their schema as named. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if not custom_schema_name -%}
        {{ target.schema }}
    {%- elif node.resource_type != 'model' -%}
        {{ custom_schema_name | trim }}
    {%- elif custom_schema_name | trim in var('namespaces') -%}
        {{ var('namespaces')[custom_schema_name | trim] }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("model " ~ node.name ~ ": layer '" ~ custom_schema_name ~ "' has no namespace in var namespaces (lakehouse_ml/platform/catalog_names.py DBT_LAYERS)") }}
    {%- endif -%}
{%- endmacro %}
