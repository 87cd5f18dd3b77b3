select
    customer_id,
    signup_ts,
    cast(signup_ts as date) as signup_date,
    coalesce(country, 'unknown') as country,
    coalesce(acquisition_channel, 'unknown') as acquisition_channel
from {{ ref('stg_customers') }}
