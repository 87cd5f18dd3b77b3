select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(order_ts as timestamp) as order_ts,
    -- money stays exact (cents) up to the gold aggregation; the ingestion contract rounded it
    cast(amount as decimal(18, 2)) as amount,
    cast(items as bigint) as items
from {{ source('raw', 'orders') }}
