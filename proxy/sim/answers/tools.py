"""Function-calling tools: a JSON schema each, and a generator of (user prompt, arguments).

The prompt is written from the arguments, so the correct call is fixed by the question: the
candidate is right when it calls the same function with the same arguments, and a subtle error
is one argument off (a wrong city, a wrong date, a wrong amount). Optional parameters carry a
``default``: passing it explicitly or leaving it out is the incumbent's own, harmless
nondeterminism.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.sim.answers.pools import (
    CITIES,
    COMPANIES,
    CURRENCIES,
    LANGUAGES,
    PRODUCTS,
    iso_date,
    person,
    reference,
    spoken_date,
)

__all__ = ["TOOLS", "Tool"]

Arguments = dict[str, Any]


@dataclass(frozen=True)
class Tool:
    """One function: its OpenAI ``tools`` entry and how a user asks for it."""

    name: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    ask: Callable[[random.Random], tuple[str, Arguments]]

    def spec(self) -> dict[str, Any]:
        parameters = {"type": "object", "properties": self.properties}
        parameters["required"] = list(self.required)
        function = {"name": self.name, "description": self.description, "parameters": parameters}
        return {"type": "function", "function": function}

    def defaults(self) -> dict[str, Any]:
        """Optional parameters with a default: leaving one out means the same call."""
        return {k: v["default"] for k, v in self.properties.items() if "default" in v}


def _s(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def _i(**extra: Any) -> dict[str, Any]:
    return {"type": "integer", **extra}


def _weather(rng: random.Random) -> tuple[str, Arguments]:
    (city, _), days = rng.choice(CITIES), rng.randrange(1, 8)
    unit = rng.choice(("celsius", "fahrenheit"))
    args: Arguments = {"city": city, "days": days}
    if unit == "fahrenheit" or rng.random() < 0.5:
        args["unit"] = unit
    return f"What's the weather going to be in {city} over the next {days} days, in {unit}?", args


def _flights(rng: random.Random) -> tuple[str, Arguments]:
    (origin, _), (destination, _) = rng.sample(CITIES, 2)
    day, passengers = iso_date(rng), rng.randrange(1, 5)
    cabin = rng.choice(("economy", "economy", "business"))
    prompt = (
        f"Find flights from {origin} to {destination} on {spoken_date(day)} for {passengers} "
        f"passenger(s), {cabin} class."
    )
    args = {"origin": origin, "destination": destination, "date": day, "passengers": passengers}
    return prompt, args | {"cabin": cabin}


def _meeting(rng: random.Random) -> tuple[str, Arguments]:
    people = [f"{f} {last}" for f, last in (person(rng), person(rng))]
    day, hour, minutes = iso_date(rng), rng.randrange(9, 17), rng.choice((15, 30, 45, 60, 90))
    title = rng.choice(("Quarterly review", "Design sync", "Budget planning", "Incident retro"))
    prompt = (
        f"Book a {minutes}-minute meeting called '{title}' with {people[0]} and {people[1]} on "
        f"{spoken_date(day)} at {hour}:00."
    )
    args = {"title": title, "attendees": people, "start": f"{day}T{hour:02d}:00:00"}
    return prompt, args | {"duration_minutes": minutes}


def _convert(rng: random.Random) -> tuple[str, Arguments]:
    value = rng.choice((50, 120, 250, 1000, 1500, 2750, 10000))
    source, target = rng.sample(CURRENCIES, 2)
    args = {"amount": value, "from_currency": source, "to_currency": target}
    return f"How much is {value:,} {source} in {target}?", args


def _order(rng: random.Random) -> tuple[str, Arguments]:
    order_id, items = reference(rng, "ORD"), rng.random() < 0.5
    prompt = f"Where is my order {order_id}?" + (" Please list what's in it too." if items else "")
    return prompt, {"order_id": order_id} | ({"include_items": True} if items else {})


def _ticket(rng: random.Random) -> tuple[str, Arguments]:
    product, priority = rng.choice(PRODUCTS), rng.choice(("low", "medium", "high"))
    problem = rng.choice(("stopped charging", "arrived damaged", "was billed twice"))
    args = {"product": product, "summary": f"The {product} {problem}", "priority": priority}
    return f"Open a {priority} priority support ticket: my {product} {problem}.", args


def _stock(rng: random.Random) -> tuple[str, Arguments]:
    ticker = rng.choice(("AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "GOOGL", "SAP", "ASML"))
    args: Arguments = {"ticker": ticker}
    if rng.random() < 0.4:
        args["exchange"] = "NASDAQ"
    where = " on the NASDAQ" if "exchange" in args else ""
    return f"What's the latest share price of {ticker}{where}?", args


def _reminder(rng: random.Random) -> tuple[str, Arguments]:
    task = rng.choice(("call the dentist", "renew the passport", "pay the rent", "water plants"))
    day, hour = iso_date(rng), rng.randrange(7, 21)
    prompt = f"Remind me to {task} on {spoken_date(day)} at {hour}:00."
    return prompt, {"text": task, "when": f"{day}T{hour:02d}:00:00"}


def _products(rng: random.Random) -> tuple[str, Arguments]:
    product, budget = rng.choice(PRODUCTS), rng.choice((50, 100, 200, 300, 500))
    args: Arguments = {"query": product, "max_price": budget}
    if rng.random() < 0.3:
        args["sort"] = "rating"
    order = ", best rated first" if "sort" in args else ""
    return f"Show me a {product} under ${budget}{order}.", args


def _translate(rng: random.Random) -> tuple[str, Arguments]:
    phrase = rng.choice(("Where is the train station?", "The invoice is attached.", "Thank you!"))
    language = rng.choice(LANGUAGES)
    return f"Translate '{phrase}' into {language}.", {"text": phrase, "target_language": language}


def _route(rng: random.Random) -> tuple[str, Arguments]:
    (city, _), mode = rng.choice(CITIES), rng.choice(("driving", "walking", "transit"))
    start, end = rng.sample(("the airport", "the old town", "the main station", "the harbour"), 2)
    args = {"origin": f"{start}, {city}", "destination": f"{end}, {city}", "mode": mode}
    return f"How do I get from {start} to {end} in {city} by {mode}?", args


def _lookup(rng: random.Random) -> tuple[str, Arguments]:
    company, fields = rng.choice(COMPANIES), rng.choice((["revenue"], ["employees"], ["ceo"]))
    return f"Look up the {fields[0]} of {company}.", {"company": company, "fields": fields}


_UNITS = _s(enum=["celsius", "fahrenheit"], default="celsius")
TOOLS: tuple[Tool, ...] = (
    Tool(
        "get_weather", "Weather forecast for a city",
        {"city": _s(), "days": _i(minimum=1, maximum=7), "unit": _UNITS}, ("city", "days"),
        _weather,
    ),
    Tool(
        "search_flights", "Search scheduled flights",
        {
            "origin": _s(), "destination": _s(), "date": _s(format="date"),
            "passengers": _i(minimum=1), "cabin": _s(enum=["economy", "business"]),
        },
        ("origin", "destination", "date", "passengers", "cabin"), _flights,
    ),
    Tool(
        "create_meeting", "Create a calendar meeting",
        {
            "title": _s(), "attendees": {"type": "array", "items": _s()},
            "start": _s(format="date-time"), "duration_minutes": _i(minimum=5),
        },
        ("title", "attendees", "start", "duration_minutes"), _meeting,
    ),
    Tool(
        "convert_currency", "Convert an amount between currencies",
        {"amount": {"type": "number"}, "from_currency": _s(), "to_currency": _s()},
        ("amount", "from_currency", "to_currency"), _convert,
    ),
    Tool(
        "get_order_status", "Status of a customer order",
        {"order_id": _s(), "include_items": {"type": "boolean", "default": False}},
        ("order_id",), _order,
    ),
    Tool(
        "create_support_ticket", "Open a support ticket",
        {"product": _s(), "summary": _s(), "priority": _s(enum=["low", "medium", "high"])},
        ("product", "summary", "priority"), _ticket,
    ),
    Tool(
        "get_stock_price", "Latest share price",
        {"ticker": _s(), "exchange": _s(default="NASDAQ")}, ("ticker",), _stock,
    ),
    Tool(
        "set_reminder", "Set a reminder", {"text": _s(), "when": _s(format="date-time")},
        ("text", "when"), _reminder,
    ),
    Tool(
        "search_products", "Search the product catalogue",
        {
            "query": _s(), "max_price": {"type": "number"},
            "sort": _s(enum=["relevance", "rating", "price"], default="relevance"),
        },
        ("query", "max_price"), _products,
    ),
    Tool(
        "translate_text", "Translate text", {"text": _s(), "target_language": _s()},
        ("text", "target_language"), _translate,
    ),
    Tool(
        "get_directions", "Directions between two places",
        {"origin": _s(), "destination": _s(), "mode": _s(enum=["driving", "walking", "transit"])},
        ("origin", "destination", "mode"), _route,
    ),
    Tool(
        "lookup_company", "Company facts",
        {"company": _s(), "fields": {"type": "array", "items": _s()}}, ("company", "fields"),
        _lookup,
    ),
)  # fmt: skip
