select
    cast(customer_id as varchar) as customer_id,
    cast(signup_ts as timestamp) as signup_ts,
    cast(country as varchar) as country,
    cast(acquisition_channel as varchar) as acquisition_channel
from {{ source('raw', 'customers') }}
