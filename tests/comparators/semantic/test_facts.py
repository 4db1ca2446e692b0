"""Fact tokens: the substitutions an embedding cannot see are conflicts; style is not."""

from __future__ import annotations

import pytest

from comparators.semantic.facts import conflicts, extract


def kinds(a: str, b: str) -> list[str]:
    return [c.kind for c in conflicts(extract(a), extract(b))]


@pytest.mark.parametrize(
    ("incumbent", "mirror", "expected"),
    [
        ("The capital of Australia is Canberra.", "The capital of Australia is Sydney.", "name"),
        ("The invoice total is $1,250.00.", "The invoice total is $1,520.00.", "money"),
        ("Data may be shared with consent.", "Data may be shared without consent.", "negation"),
        ("The treaty was signed in 1848.", "The treaty was signed in 1884.", "number"),
        ("The run is 5 km long.", "The run is 5 miles long.", "unit"),
        ("Costs rose 12% last year.", "Costs rose 21% last year.", "number"),
        ("It is not safe to run this twice.", "It is safe to run this twice.", "negation"),
    ],
)
def test_a_substituted_fact_is_a_conflict(incumbent: str, mirror: str, expected: str) -> None:
    assert kinds(incumbent, mirror) == [expected]
    assert kinds(mirror, incumbent) == [expected]


@pytest.mark.parametrize(
    ("incumbent", "mirror"),
    [
        ("The capital of Australia is Canberra.", "Canberra is Australia's capital city."),
        ("The invoice total is $1,250.00.", "Total due: 1250 dollars."),
        ("The invoice total is $1,250.00.", "The total comes to $1250."),
        ("Costs rose 12% last year.", "Last year, costs went up by 12 percent."),
        ("It took 3 hours.", "It took three hours."),
        (
            "**Summary**\n1. Ferrari won in 2019.\n2. It took 3 hours.",
            "Ferrari won in 2019 (3 hours).",
        ),
        ("You can't divide by zero.", "Division by zero is undefined."),
        # Elaboration and omission are style, judged by meaning, not conflicts.
        ("Canberra is the capital.", "Canberra is the capital; the ACT surrounds it since 1913."),
        ("Canberra, in the ACT, has been the capital since 1913.", "Canberra is the capital."),
        ("Overall, the plan works.", "In short, the plan works."),
        ("Data shows growth.", "The data shows growth, as Gartner notes."),
    ],
)
def test_rewording_adding_or_leaving_out_is_no_conflict(incumbent: str, mirror: str) -> None:
    assert kinds(incumbent, mirror) == []


def test_numbers_are_format_normalised() -> None:
    facts = extract("We paid $1,250.00, then 1250.0 units, then 1,250 more; and €3.5k.")
    assert facts.money == {"usd 1250", "eur 3500"}
    assert facts.numbers == {"1250"}


def test_list_markers_and_markup_are_layout_not_facts() -> None:
    facts = extract("## Steps\n1. Open **Settings**\n2) Click `Postgres`\n- done")
    assert facts.numbers == frozenset()
    assert facts.names == {"setting", "postgre"}  # stems: plural s dropped


def test_conflicts_name_what_each_side_said() -> None:
    [conflict] = conflicts(extract("Paid $1,250."), extract("Paid $1,520."))
    assert (conflict.incumbent, conflict.mirror) == (("usd 1250",), ("usd 1520",))


def test_empty_and_hostile_texts_have_no_facts() -> None:
    assert not extract("")
    assert not extract("\x00\u202e" * 1000)
    assert extract("9" * 5000).numbers  # a huge number is read, not an error
