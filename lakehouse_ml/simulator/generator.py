"""The latent customer process, simulated one day at a time with vectorized numpy.

Each customer has a hidden type (loyal, regular, bargain, one_off), an individual order rate and
price level, and an engagement level that drifts day to day. An alive customer orders on a day with
a probability set by type, channel, country, tenure, engagement and weekly/yearly seasonality. Each
day an alive customer may churn, with a hazard that is higher for low-engagement, early-tenure,
one-off and paid-social customers; a churned customer never orders again. Churn is never written to
the landing zone: a model has to infer it from ordering behaviour, which carries real but imperfect
signal (infrequent customers who did not churn look like churned ones for a while).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from lakehouse_ml.simulator.scenarios import Adjustments
from lakehouse_ml.simulator.state import Population

EPOCH = date(1970, 1, 1)
SECONDS_PER_DAY = 86_400

COUNTRIES = np.array(["DE", "FR", "GB", "NL", "ES", "IT", "PL", "SE"])
COUNTRY_SHARE = np.array([0.24, 0.16, 0.18, 0.08, 0.1, 0.1, 0.08, 0.06])
COUNTRY_RATE = np.array([1.0, 0.95, 1.1, 1.05, 0.85, 0.85, 0.9, 1.1])
COUNTRY_PRICE = np.array([1.0, 1.0, 1.12, 1.05, 0.88, 0.92, 0.7, 1.15])
UNKNOWN_COUNTRY_SHARE = 0.005

CHANNELS = np.array(["organic_search", "paid_search", "paid_social", "email", "referral", "affiliate"])
CHANNEL_SHARE = np.array([0.32, 0.22, 0.14, 0.1, 0.12, 0.1])
CHANNEL_RATE = np.array([1.0, 0.95, 0.75, 1.2, 1.15, 0.9])
CHANNEL_HAZARD = np.array([1.0, 1.1, 1.6, 0.8, 0.7, 1.2])
PAID_SOCIAL = 2

LATENT_TYPES = np.array(["loyal", "regular", "bargain", "one_off"])
# Type mix per acquisition channel (rows follow CHANNELS).
TYPE_SHARE_BY_CHANNEL = np.array(
    [
        [0.22, 0.38, 0.22, 0.18],
        [0.18, 0.36, 0.26, 0.2],
        [0.08, 0.24, 0.3, 0.38],
        [0.32, 0.4, 0.18, 0.1],
        [0.34, 0.38, 0.16, 0.12],
        [0.12, 0.3, 0.38, 0.2],
    ]
)
TYPE_RATE = np.array([1 / 12, 1 / 30, 1 / 40, 1 / 100])
TYPE_HAZARD = np.array([0.0003, 0.0006, 0.0009, 0.002])
TYPE_FIRST_ORDER = np.array([0.8, 0.65, 0.6, 0.75])
TYPE_PRICE = np.array([38.0, 30.0, 16.0, 26.0])
TYPE_ITEMS = np.array([1.6, 1.2, 2.2, 0.8])

RATE_SHAPE = 1.5  # gamma heterogeneity of individual order rates (mean 1)
ENGAGEMENT_KEEP = 0.985
ENGAGEMENT_NOISE = 0.1
ENGAGEMENT_HAZARD = 1.0  # hazard scales with exp(-this * engagement)
CONCEPT_HAZARD = 0.0015  # under concept_shift the hazard of a customer with an average order rate
CONCEPT_RATE_HAZARD = 2.0  # ... scaled by exp(this * z), z the standardized log order rate
PRICE_SIGMA = 0.35
ZERO_AMOUNT_SHARE = 0.01
REFUND_SHARE = 0.03
HOUR_WEIGHTS = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.8, 4, 4.4, 4.2, 4, 4, 4.2, 4.8, 5.6, 6.4, 6.6, 5.6, 3.8, 2]
)
HOUR_CDF = HOUR_WEIGHTS.cumsum() / HOUR_WEIGHTS.sum()
WEEKDAY_FACTOR = np.array([1.05, 0.95, 0.95, 0.95, 1.0, 1.1, 1.15])  # Monday first

# Purposes of the per-day generators: changing one purpose's draws leaves the others alone.
_ARRIVALS, _ORDERS, _BASKETS, _ENGAGEMENT, _CHURN = range(5)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_from_number(number: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(number))


def seasonality(number: int) -> float:
    """Weekly and yearly demand factor: weekends, a late-November/December peak, a February dip."""
    day = day_from_number(number)
    day_of_year = day.timetuple().tm_yday
    yearly = 1.0 + 0.1 * np.cos(2 * np.pi * (day_of_year - 340) / 365.25)
    peak = 0.35 * np.exp(-0.5 * ((day_of_year - 335) / 12) ** 2)
    return float(WEEKDAY_FACTOR[day.weekday()] * (yearly + peak))


def arrival_weight(number: int) -> float:
    return 0.5 + 0.5 * seasonality(number)


def day_rng(seed: int, number: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, number, purpose])


@dataclass
class OrderBatch:
    customer_index: np.ndarray
    day: np.ndarray
    second: np.ndarray
    amount: np.ndarray
    items: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_index)

    @classmethod
    def concat(cls, batches: list[OrderBatch]) -> OrderBatch:
        if not batches:
            empty_int = np.empty(0, np.int64)
            return cls(empty_int, empty_int, empty_int, np.empty(0, np.float64), empty_int)
        return cls(*(np.concatenate([getattr(b, name) for b in batches]) for name in cls.__annotations__))


def _seconds_in_day(rng: np.random.Generator, size: int) -> np.ndarray:
    hours = np.searchsorted(HOUR_CDF, rng.random(size), side="right").clip(max=23)
    return (hours * 3600 + rng.integers(0, 3600, size=size)).astype(np.int32)


def new_customers(rng: np.random.Generator, count: int, number: int, adjust: Adjustments) -> Population:
    channel_share = CHANNEL_SHARE
    if adjust.paid_social_share is not None:
        channel_share = CHANNEL_SHARE * (1 - adjust.paid_social_share) / (1 - CHANNEL_SHARE[PAID_SOCIAL])
        channel_share[PAID_SOCIAL] = adjust.paid_social_share
    channel = rng.choice(len(CHANNELS), size=count, p=channel_share)
    type_cdf = TYPE_SHARE_BY_CHANNEL[channel].cumsum(axis=1)
    latent_type = (rng.random(count)[:, None] > type_cdf).sum(axis=1).clip(max=len(LATENT_TYPES) - 1)
    country = rng.choice(len(COUNTRIES), size=count, p=COUNTRY_SHARE)
    country[rng.random(count) < UNKNOWN_COUNTRY_SHARE] = -1
    return Population(
        signup_day=np.full(count, number, np.int32),
        signup_second=_seconds_in_day(rng, count),
        country=country.astype(np.int8),
        channel=channel.astype(np.int8),
        latent_type=latent_type.astype(np.int8),
        rate=rng.gamma(RATE_SHAPE, 1 / RATE_SHAPE, size=count),
        price=rng.lognormal(0.0, 0.25, size=count),
        engagement=rng.normal(0.0, 0.3, size=count),
        churned=np.zeros(count, bool),
    )


def _baskets(
    rng: np.random.Generator, population: Population, buyers: np.ndarray, number: int, adjust: Adjustments
) -> tuple[np.ndarray, np.ndarray]:
    kinds = population.latent_type[buyers]
    country = population.country[buyers]
    country_price = np.where(country >= 0, COUNTRY_PRICE[country.clip(min=0)], 1.0)
    day_of_year = day_from_number(number).timetuple().tm_yday
    holiday_items = 0.4 * np.exp(-0.5 * ((day_of_year - 345) / 15) ** 2)
    items = 1 + rng.poisson(TYPE_ITEMS[kinds] + holiday_items + adjust.extra_items)
    unit_price = (
        TYPE_PRICE[kinds]
        * country_price
        * population.price[buyers]
        * adjust.price_multiplier
        * rng.lognormal(-(PRICE_SIGMA**2) / 2, PRICE_SIGMA, size=len(buyers))
    )
    amount = np.round(items * unit_price, 2)
    kind_draw = rng.random(len(buyers))
    amount[kind_draw < ZERO_AMOUNT_SHARE] = 0.0
    refund = kind_draw > 1 - REFUND_SHARE
    amount[refund] = -amount[refund]
    return amount, items


def expected_rate(population: Population, number: int) -> np.ndarray:
    """Daily order rate of every customer on a day (before the seasonal factor)."""
    tenure = number - population.signup_day
    country = population.country
    country_rate = np.where(country >= 0, COUNTRY_RATE[country.clip(min=0)], 1.0)
    honeymoon = 1.0 + 1.2 * np.exp(-tenure / 21.0)
    return (
        population.rate
        * TYPE_RATE[population.latent_type]
        * CHANNEL_RATE[population.channel]
        * country_rate
        * honeymoon
        * np.exp(population.engagement)
    )


def churn_hazard(population: Population, rate: np.ndarray, number: int, adjust: Adjustments) -> np.ndarray:
    tenure = number - population.signup_day
    base = (
        TYPE_HAZARD[population.latent_type]
        * CHANNEL_HAZARD[population.channel]
        * (1.0 + 2.0 * np.exp(-tenure / 40.0))
    )
    hazard = base * np.exp(-ENGAGEMENT_HAZARD * population.engagement)
    alive = ~population.churned
    if adjust.concept_shift and alive.sum() > 1:
        log_rate = np.log(rate)
        z = (log_rate - log_rate[alive].mean()) / max(log_rate[alive].std(), 1e-9)
        # Type, channel and engagement no longer protect: the more a customer orders, the likelier
        # they leave, and the less a customer orders, the likelier they stay.
        hazard = CONCEPT_HAZARD * (1.0 + 2.0 * np.exp(-tenure / 40.0)) * np.exp(CONCEPT_RATE_HAZARD * z)
    return np.minimum(hazard, 0.5)


def simulate_day(
    population: Population, seed: int, number: int, arrivals: int, adjust: Adjustments
) -> OrderBatch:
    """Advance the population by one day in place: arrivals, orders, engagement, churn."""
    population.extend(new_customers(day_rng(seed, number, _ARRIVALS), arrivals, number, adjust))
    size = len(population)
    alive = ~population.churned
    rate = expected_rate(population, number)
    probability = -np.expm1(-rate * seasonality(number))
    signed_up_today = population.signup_day == number
    probability[signed_up_today] = TYPE_FIRST_ORDER[population.latent_type[signed_up_today]]

    order_rng = day_rng(seed, number, _ORDERS)
    buyers = np.flatnonzero(alive & (order_rng.random(size) < probability))
    second = _seconds_in_day(order_rng, len(buyers))
    new_buyers = signed_up_today[buyers]
    start = population.signup_second[buyers][new_buyers]
    late_in_day = order_rng.random(len(start))
    second[new_buyers] = start + (late_in_day * (SECONDS_PER_DAY - start)).astype(np.int32)
    amount, items = _baskets(day_rng(seed, number, _BASKETS), population, buyers, number, adjust)

    engagement_rng = day_rng(seed, number, _ENGAGEMENT)
    population.engagement = ENGAGEMENT_KEEP * population.engagement + engagement_rng.normal(
        0.0, ENGAGEMENT_NOISE, size=size
    )
    hazard = churn_hazard(population, rate, number, adjust)
    churn_draw = day_rng(seed, number, _CHURN).random(size)
    population.churned = population.churned | (churn_draw < hazard)

    return OrderBatch(
        customer_index=buyers.astype(np.int64),
        day=np.full(len(buyers), number, np.int64),
        second=second.astype(np.int64),
        amount=amount,
        items=items.astype(np.int64),
    )


def initial_arrivals(seed: int, first_day: int, days: int, customers: int) -> np.ndarray:
    """Split exactly ``customers`` sign-ups over ``days`` days, following the seasonal weights."""
    weights = np.array([arrival_weight(first_day + offset) for offset in range(days)])
    return day_rng(seed, first_day, _ARRIVALS + 100).multinomial(customers, weights / weights.sum())


def daily_arrivals(seed: int, number: int, per_day: float, adjust: Adjustments) -> int:
    mean = per_day * arrival_weight(number) * adjust.arrival_multiplier
    return int(day_rng(seed, number, _ARRIVALS + 200).poisson(mean))
