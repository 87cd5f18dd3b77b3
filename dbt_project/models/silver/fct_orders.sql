select
    order_id,
    customer_id,
    order_ts,
    cast(order_ts as date) as order_date,
    amount,
    items
from {{ ref('stg_orders') }}
