"""JSON extraction tasks: a short source text, the fields to pull out of it, and the answer.

Each template turns an RNG into ``(source text, document)``: the values are drawn once, written
into the text the way a person would write them (``March 5, 2024``, ``$1,250.40``) and into the
document the way an extraction should return them (``2024-03-05``, ``1250.4``). The document
has four to eight leaves, some nested, some in a list, because that is where a candidate's
extraction goes wrong in practice: one leaf off, not the whole object.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from proxy.sim.answers.pools import (
    CITIES,
    COMPANIES,
    CURRENCIES,
    PRODUCTS,
    amount,
    email,
    iso_date,
    person,
    phone,
    reference,
    spoken_date,
)

__all__ = ["TEMPLATES", "Template"]

Template = Callable[[random.Random], tuple[str, dict[str, Any]]]


def _invoice(rng: random.Random) -> tuple[str, dict[str, Any]]:
    number, vendor, issued = reference(rng, "INV"), rng.choice(COMPANIES), iso_date(rng)
    total, currency, paid = amount(rng, 120, 9_000), rng.choice(CURRENCIES[:3]), rng.random() < 0.4
    text = (
        f"Invoice {number} from {vendor}, issued {spoken_date(issued)}, for a total of "
        f"{total:,.2f} {currency}. Status: {'paid' if paid else 'awaiting payment'}."
    )
    doc = {"invoice_number": number, "vendor": vendor, "issue_date": issued, "total": total}
    return text, doc | {"currency": currency, "paid": paid}


def _contact(rng: random.Random) -> tuple[str, dict[str, Any]]:
    (first, last), company, (city, country) = person(rng), rng.choice(COMPANIES), rng.choice(CITIES)
    mail, tel = email(first, last, company), phone(rng)
    text = (
        f"Hi, I'm {first} {last} from {company} in {city}, {country}. Reach me at {mail} or {tel}."
    )
    address = {"city": city, "country": country}
    doc = {"name": f"{first} {last}", "company": company, "email": mail, "phone": tel}
    return text, doc | {"address": address}


def _event(rng: random.Random) -> tuple[str, dict[str, Any]]:
    topic = rng.choice(("Data Summit", "Cloud Meetup", "Design Week", "Security Forum"))
    day, hour, (city, _) = iso_date(rng), rng.randrange(9, 19), rng.choice(CITIES)
    capacity = rng.choice((80, 120, 150, 200, 250, 400))
    text = (
        f"Join us for {topic} on {spoken_date(day)} at {hour}:00 in {city}. "
        f"Seats are limited to {capacity}."
    )
    doc = {"title": topic, "date": day, "start_time": f"{hour:02d}:00", "city": city}
    return text, doc | {"capacity": capacity}


def _order(rng: random.Random) -> tuple[str, dict[str, Any]]:
    order_id, (first, last) = reference(rng, "ORD"), person(rng)
    product, quantity = rng.choice(PRODUCTS), rng.randrange(1, 6)
    total, express = amount(rng, 20, 900), rng.random() < 0.3
    text = (
        f"Order {order_id} placed by {first} {last}: {quantity} x {product}, total ${total:,.2f}, "
        f"{'express' if express else 'standard'} shipping."
    )
    items = [{"product": product, "quantity": quantity}]
    doc = {"order_id": order_id, "customer": f"{first} {last}", "items": items, "total": total}
    return text, doc | {"express_shipping": express}


def _shipment(rng: random.Random) -> tuple[str, dict[str, Any]]:
    tracking, carrier = reference(rng, "TRK"), rng.choice(("DHL", "UPS", "FedEx", "DPD"))
    (origin, _), (destination, _) = rng.sample(CITIES, 2)
    weight, delivered = round(rng.uniform(0.2, 30), 1), rng.random() < 0.5
    text = (
        f"Parcel {tracking} sent with {carrier} from {origin} to {destination}, weighing "
        f"{weight} kg. {'Delivered.' if delivered else 'In transit.'}"
    )
    doc = {"tracking_number": tracking, "carrier": carrier, "origin": origin}
    return text, doc | {"destination": destination, "weight_kg": weight, "delivered": delivered}


def _flight(rng: random.Random) -> tuple[str, dict[str, Any]]:
    (first, last), (origin, _), (destination, _) = person(rng), *rng.sample(CITIES, 2)
    flight = f"{rng.choice(('LH', 'BA', 'AF', 'UA', 'TP'))}{rng.randrange(100, 1000)}"
    day, seat, bags = (
        iso_date(rng),
        f"{rng.randrange(1, 40)}{rng.choice('ABCDEF')}",
        rng.randrange(3),
    )
    text = (
        f"Booking confirmed for {first} {last} on flight {flight} from {origin} to {destination} "
        f"on {spoken_date(day)}, seat {seat}, with {bags} checked bag(s)."
    )
    doc = {"passenger": f"{first} {last}", "flight_number": flight, "from": origin}
    return text, doc | {"to": destination, "date": day, "seat": seat, "checked_bags": bags}


def _job(rng: random.Random) -> tuple[str, dict[str, Any]]:
    title = rng.choice(("Backend Engineer", "Data Analyst", "Product Designer", "SRE"))
    company, (city, _) = rng.choice(COMPANIES), rng.choice(CITIES)
    low = rng.randrange(60, 140) * 1000
    high, remote = low + rng.randrange(10, 50) * 1000, rng.random() < 0.5
    text = (
        f"{company} is hiring a {title} in {city}. Salary ${low:,} to ${high:,}. "
        f"{'Remote work possible.' if remote else 'On-site role.'}"
    )
    doc = {"title": title, "company": company, "location": city, "salary_min": low}
    return text, doc | {"salary_max": high, "remote": remote}


def _product(rng: random.Random) -> tuple[str, dict[str, Any]]:
    name, brand = rng.choice(PRODUCTS), rng.choice(COMPANIES)
    price, stock, rating = amount(rng, 9, 700), rng.random() < 0.7, rng.choice((3.8, 4.2, 4.5, 4.7))
    text = (
        f"The {name} by {brand} sells for ${price:,.2f} and is rated {rating} out of 5. "
        f"{'In stock.' if stock else 'Currently sold out.'}"
    )
    doc = {"product": name, "brand": brand, "price": price, "currency": "USD"}
    return text, doc | {"in_stock": stock, "rating": rating}


def _ticket(rng: random.Random) -> tuple[str, dict[str, Any]]:
    ticket, (first, last), company = reference(rng, "TCK"), person(rng), rng.choice(COMPANIES)
    product, priority = rng.choice(PRODUCTS), rng.choice(("low", "medium", "high", "urgent"))
    category = rng.choice(("billing", "shipping", "defect", "returns"))
    text = (
        f"Ticket {ticket} from {email(first, last, company)}: my {product} has a {category} "
        f"problem. Priority {priority}."
    )
    doc = {"ticket_id": ticket, "customer_email": email(first, last, company)}
    return text, doc | {"product": product, "category": category, "priority": priority}


def _hotel(rng: random.Random) -> tuple[str, dict[str, Any]]:
    (first, last), (city, country) = person(rng), rng.choice(CITIES)
    nights, day = rng.randrange(1, 8), rng.randrange(1, 20)
    check_in, check_out = f"2024-06-{day:02d}", f"2024-06-{day + nights:02d}"
    room, breakfast = rng.choice(("single", "double", "suite")), rng.random() < 0.5
    text = (
        f"Reservation for {first} {last} in {city}, {country}: a {room} room from "
        f"{spoken_date(check_in)} to {spoken_date(check_out)}, "
        f"{'breakfast included' if breakfast else 'room only'}."
    )
    doc = {"guest": f"{first} {last}", "city": city, "check_in": check_in}
    return text, doc | {"check_out": check_out, "nights": nights, "room_type": room} | {
        "breakfast": breakfast
    }


def _transaction(rng: random.Random) -> tuple[str, dict[str, Any]]:
    ident, day, value = reference(rng, "TX"), iso_date(rng), amount(rng, 5, 4_000)
    currency, counterparty = rng.choice(CURRENCIES), rng.choice(COMPANIES)
    direction = rng.choice(("debit", "credit"))
    verb = "Paid to" if direction == "debit" else "Received from"
    text = f"{spoken_date(day)}: {verb} {counterparty}, {value:,.2f} {currency} (ref {ident})."
    doc = {"transaction_id": ident, "date": day, "amount": value, "currency": currency}
    return text, doc | {"counterparty": counterparty, "direction": direction}


def _appointment(rng: random.Random) -> tuple[str, dict[str, Any]]:
    (first, last), (_, doctor), (city, _) = person(rng), person(rng), rng.choice(CITIES)
    day, hour, follow = iso_date(rng), rng.randrange(8, 18), rng.random() < 0.3
    text = (
        f"Appointment for {first} {last} with Dr. {doctor} in {city} on {spoken_date(day)} at "
        f"{hour}:30. {'Follow-up visit.' if follow else 'First visit.'}"
    )
    doc = {"patient": f"{first} {last}", "doctor": f"Dr. {doctor}", "city": city, "date": day}
    return text, doc | {"time": f"{hour:02d}:30", "follow_up": follow}


def _listing(rng: random.Random) -> tuple[str, dict[str, Any]]:
    (city, _), bedrooms = rng.choice(CITIES), rng.randrange(1, 6)
    bathrooms, area = rng.randrange(1, bedrooms + 1), rng.randrange(45, 260)
    price, sale = rng.randrange(150, 1500) * 1000, rng.random() < 0.6
    text = (
        f"{'For sale' if sale else 'For rent'} in {city}: {bedrooms} bedrooms, {bathrooms} "
        f"bathrooms, {area} m2, asking ${price:,}."
    )
    doc = {"city": city, "bedrooms": bedrooms, "bathrooms": bathrooms, "area_m2": area}
    return text, doc | {"price": price, "for_sale": sale}


TEMPLATES: dict[str, Template] = {
    "invoice": _invoice,
    "contact": _contact,
    "event": _event,
    "order": _order,
    "shipment": _shipment,
    "flight_booking": _flight,
    "job_posting": _job,
    "product": _product,
    "support_ticket": _ticket,
    "hotel_reservation": _hotel,
    "bank_transaction": _transaction,
    "appointment": _appointment,
    "real_estate": _listing,
}
