select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(order_ts as timestamp) as order_ts,
    cast(amount as double) as amount,
    cast(items as bigint) as items
from {{ source('raw', 'orders') }}
