"""The semantic comparator: meaning and facts decide, wording does not."""

from __future__ import annotations

import socket

import pytest

from comparators.builtin.semantic import SemanticComparator, SemanticOptions
from comparators.scores import Score
from comparators.semantic.embedder import EmbeddingsEndpoint
from tests.comparators.factories import context, mirror, pairing, side


def run(incumbent: str, candidate: str, **options: object) -> Score:
    comparator = SemanticComparator(SemanticOptions.model_validate(options), context())
    [score] = comparator.compare(pairing(side(incumbent), mirror(candidate)))
    return score


@pytest.mark.parametrize(
    ("incumbent", "candidate"),
    [
        ("The capital of Australia is Canberra.", "Canberra is Australia's capital city."),
        (
            "To reset your password, open Settings, choose Security and click Reset. "
            "You will get an email within 5 minutes.",
            "## Steps\n1. Go to **Settings** > **Security**.\n2. Click *Reset*.\n\n"
            "An email arrives in under 5 minutes.",
        ),
        (
            "The invoice total is $1,250.00, due on March 3.",
            "Total due: 1250 dollars, by March 3. Let me know if you need a breakdown of the "
            "line items or the tax.",
        ),
    ],
)
def test_the_same_meaning_in_other_words_is_unchanged(incumbent: str, candidate: str) -> None:
    score = run(incumbent, candidate)
    assert score.values["changed"] is False, score
    assert score.values["facts_match"] is True


@pytest.mark.parametrize(
    ("incumbent", "candidate", "kind"),
    [
        ("The capital of Australia is Canberra.", "The capital of Australia is Sydney.", "name"),
        ("The invoice total is $1,250.00.", "The invoice total is $1,520.00.", "money"),
        ("Data is shared with consent.", "Data is shared without consent.", "negation"),
    ],
)
def test_a_changed_fact_is_a_change_however_close_the_vectors(
    incumbent: str, candidate: str, kind: str
) -> None:
    score = run(incumbent, candidate)
    assert float(score.values["similarity"] or 0.0) > 0.7  # the embedding alone would not see it
    assert score.values["changed"] is True
    assert [c["kind"] for c in score.details["conflicts"]] == [kind]


def test_an_answer_about_something_else_is_a_change() -> None:
    score = run(
        "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
        "The French Revolution began with the storming of the Bastille.",
    )
    assert float(score.values["similarity"] or 1.0) < 0.5
    assert score.values["changed"] is True


def test_two_refusals_worded_differently_mean_the_same() -> None:
    score = run("I'm sorry, but I can't help with that.", "I won't be able to assist with this.")
    assert (score.values["incumbent_refusal"], score.values["mirror_refusal"]) == (True, True)
    assert score.values["changed"] is False


def test_a_refusal_next_to_an_answer_is_a_change() -> None:
    score = run("The capital of Australia is Canberra.", "I'm not able to share that.")
    assert score.values["mirror_refusal"] is True
    assert score.values["changed"] is True


def test_facts_can_be_switched_off() -> None:
    score = run("Paid $1,250.", "Paid $1,520.", facts=False)
    assert score.values["changed"] is False
    assert score.values["fact_conflicts"] == 0


def test_a_failed_side_or_no_text_is_not_scored_as_identical() -> None:
    comparator = SemanticComparator(SemanticOptions(), context())
    [failed] = comparator.compare(pairing(side(), mirror(status=500, error="http_status")))
    assert failed.values["changed"] is None
    assert failed.values["applicable"] is None
    [empty] = comparator.compare(pairing(side(""), mirror("")))
    assert empty.values["applicable"] is False
    assert empty.values["changed"] is None


def test_an_unreachable_embedding_endpoint_leaves_the_pair_unscored() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = EmbeddingsEndpoint(url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    options = SemanticOptions(embeddings=endpoint)
    [score] = SemanticComparator(options, context()).compare(
        pairing(side("Canberra."), mirror("Sydney."))
    )
    assert score.values["unscored"] is True
    assert score.values["changed"] is None
    assert score.values["similarity"] is None
    assert "unscored" in score.details


def test_an_empty_answer_next_to_a_real_one_is_a_change() -> None:
    score = run("The capital of Australia is Canberra.", "")
    assert score.values["changed"] is True
    assert score.details == {"empty": "mirror"}
