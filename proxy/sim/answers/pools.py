"""Random but plausible values for JSON extraction and tool arguments.

Each helper draws from a caller's RNG, so a template instance is fixed by the seed it is built
from; pools are short on purpose: real traffic repeats the same cities and companies.
"""

from __future__ import annotations

import random

__all__ = [
    "CITIES",
    "COMPANIES",
    "CURRENCIES",
    "LANGUAGES",
    "PRODUCTS",
    "amount",
    "email",
    "iso_date",
    "person",
    "phone",
    "reference",
    "spoken_date",
]

FIRST = (
    "Ana", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemi", "Lucas", "Maya", "Nikos", "Olivia", "Priya", "Quentin", "Rosa", "Sven", "Tara",
)  # fmt: skip
LAST = (
    "Alvarez", "Brennan", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn",
    "Rossi", "Schmidt", "Tanaka",
)  # fmt: skip
COMPANIES = (
    "Acme Supplies", "Northwind Traders", "Blue Harbor Logistics", "Globex Analytics",
    "Initech Software", "Umbrella Health", "Vandelay Imports", "Stark Components",
    "Wayne Hardware", "Cyberdyne Labs", "Soylent Foods", "Hooli Cloud",
)  # fmt: skip
CITIES = (
    ("Lisbon", "Portugal"), ("Berlin", "Germany"), ("Toronto", "Canada"), ("Osaka", "Japan"),
    ("Madrid", "Spain"), ("Chicago", "United States"), ("Dublin", "Ireland"),
    ("Melbourne", "Australia"), ("Oslo", "Norway"), ("Nairobi", "Kenya"),
    ("Seoul", "South Korea"), ("Lyon", "France"), ("Austin", "United States"),
    ("Krakow", "Poland"),
)  # fmt: skip
PRODUCTS = (
    "wireless keyboard", "standing desk", "noise-cancelling headphones", "espresso machine",
    "trail running shoes", "4K monitor", "office chair", "USB-C dock", "water bottle",
    "backpack", "desk lamp", "mechanical pencil set",
)  # fmt: skip
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "CHF")
LANGUAGES = ("French", "German", "Spanish", "Japanese", "Italian", "Portuguese")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def email(first: str, last: str, company: str) -> str:
    domain = company.split()[0].lower()
    return f"{first.lower()}.{last.lower()}@{domain}.example"


def phone(rng: random.Random) -> str:
    return f"+1-555-{rng.randrange(100, 1000)}-{rng.randrange(1000, 10000)}"


def iso_date(rng: random.Random, year: int = 2024) -> str:
    return f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


def spoken_date(iso: str) -> str:
    """``2024-03-05`` -> ``March 5, 2024``: how the same date reads in a prompt."""
    year, month, day = iso.split("-")
    return f"{_MONTHS[int(month) - 1]} {int(day)}, {year}"


def amount(rng: random.Random, low: float, high: float) -> float:
    """A price with cents, rounded the way invoices are."""
    return round(rng.uniform(low, high), 2)


def reference(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randrange(10_000, 100_000)}"
