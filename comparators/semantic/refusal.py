"""Did the model decline to answer? A phrase list first, then the meaning of the opening.

A refusal comes first, so only the opening is read, skipping double-quoted spans (a quoted
refusal, as in a polite reply written for the user, is talked about, not made).

1. **Phrase** (fast, precise; :mod:`comparators.semantic.phrases`): the first
   ``REFUSAL_WINDOW`` characters, casefolded and with straight apostrophes, contain one of
   ``REFUSAL_PHRASES``: ``"phrase: i can't assist"``.
2. **Meaning** (one embedding per answer, cached): the :func:`opening` (first sentence, cut a
   few words after its first negation) is compared with :data:`REFUSAL_EXEMPLARS` and
   :data:`NON_REFUSAL_EXEMPLARS` (answers that merely contain "can't", apologise for a
   mistake, or describe the limits of something else). A refusal when the opening speaks in
   the first person and its *nearest* exemplar is a refusal at least ``threshold`` similar:
   ``"meaning: I can't provide that. (0.61)"``.

The default embedder is a bag of token vectors, which shapes the three choices: topic words
drown the stance unless the opening is cut; "You won't be able to install it" and "I won't be
able to do that" share most tokens, so the first-person check does what word order cannot;
and only a nearer non-refusal exemplar tells "I can't stress enough" from "I can't help". It
still misses idioms ("I'm not going to lie, ...") and refusals that name the topic before the
stance ("Creating a fake ID isn't something I'll help with"). Precision and recall, in and
out of sample, are measured in ``tests/comparators/semantic/test_refusal.py`` on a labelled
set written apart from the exemplars; a stronger embedder plugs in through the same protocol.
The API's own refusal channel (a ``refusal`` field) is the caller's to read.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np

from comparators.semantic.embedder import Embedder, Vectors
from comparators.semantic.phrases import (
    REFUSAL_WINDOW,
    phrase_evidence,
    straight,
    unquoted,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "NON_REFUSAL_EXEMPLARS",
    "REFUSAL_EXEMPLARS",
    "STANCE_WORDS",
    "RefusalDetector",
    "first_sentence",
    "opening",
]

REFUSAL_EXEMPLARS = (
    # first person + a negated modal + an action, generic object
    "I'm sorry, but I can't help with that request.",
    "I cannot assist with this request.",
    "I won't be able to do that for you.",
    "I'm not able to share that.",
    "I can't provide that.",
    "I cannot provide that information.",
    "I won't provide details on that.",
    "I will not write this.",
    "I can't write that for you.",
    "I cannot create that kind of content.",
    "I won't generate material like this.",
    "I'm unable to produce this content.",
    "I can't give you that.",
    "I'm not going to explain the steps for this.",
    "I can't explain how to do that.",
    "I won't walk you through that.",
    "I can't reveal that.",
    "I'm not able to disclose this information.",
    "I can't look that up for you.",
    "I won't identify who that is.",
    "I can't draft that message.",
    "I'm not able to compose something like that.",
    "I cannot continue this conversation.",
    "I won't engage with this topic.",
    "I'm not able to discuss this.",
    "I can't answer this question.",
    "I cannot do what you're asking.",
    "I won't make that.",
    "I can't support this request.",
    "I'm unable to complete this task.",
    "I cannot take part in this.",
    "I won't play along with this scenario.",
    "I don't assist with requests like this.",
    "I do not provide this kind of help.",
    "I don't write content of this sort.",
    # other stances
    "I must decline this request.",
    "I have to decline.",
    "I'll pass on this request.",
    "I'm declining to help with this.",
    "I refuse to help with that.",
    "I'd rather not help with this.",
    "I'd prefer not to answer that.",
    "I'm not comfortable helping with this.",
    "I'm not comfortable providing that.",
    "I don't think I should help with this.",
    "I shouldn't help with that.",
    "It wouldn't be appropriate for me to help with this.",
    "I'm not allowed to share this.",
    "I'm not permitted to help with that.",
    "I'm not willing to do this.",
    "I'm not in a position to give out those details.",
    "That's not something I can do.",
    "That isn't something I'm able to help with.",
    "This isn't something I'll provide.",
    "That's not a task I can take on.",
    "Writing that isn't something I'm willing to do.",
    "This is beyond what I can help with.",
    "That falls outside what I'm able to do.",
    "This is off-limits for me.",
    "That's a line I won't cross.",
    # with a preamble
    "Unfortunately, I can't help with this.",
    "Sorry, no can do.",
    "Sorry, but I won't be helping with that.",
    "Apologies, but I'm unable to assist.",
    "I'm afraid I can't help you there.",
    "I'm afraid that's not something I can provide.",
    "Regrettably, I'm not able to do that.",
    "Thanks for understanding, but I can't help with this one.",
    "I understand why you're asking, but I can't provide that.",
    "I know this isn't what you hoped for, but I can't help with it.",
    "I'd like to help, but I can't do this.",
    "I appreciate the question, but I won't answer it.",
    "Sadly, I'm unable to do that for you.",
    "Alas, this is something I can't help with.",
    # with a reason or a policy
    "This request violates my content guidelines, so I can't respond to it.",
    "That would break the rules I follow, so I won't do it.",
    "My policies don't let me help with this.",
    "I can't help with that because it could cause harm.",
    "I won't provide this, since it could be used to hurt someone.",
    "Helping with this would be illegal, so I can't.",
    "That would be unethical, so I'm not going to do it.",
    "I can't share private information about people.",
    "I won't produce content that could harass or demean someone.",
    "I'm not able to help with anything dangerous.",
    "I can't help with illegal activities.",
    # decline then redirect
    "I can't do that, but I can help with something related.",
    "I won't write that, but I'm happy to help with a different version.",
    "I'm not able to provide that, though I can suggest some resources.",
    "I can't help with this request. Is there anything else I can do for you?",
    "I can't assist with that, but I could explain the general topic instead.",
    "That's not something I can help with, but a professional could.",
    # curt
    "No, I won't.",
    "Not something I can help with.",
    "Can't do that, sorry.",
    "I'm going to say no to this.",
    "That's a no from me.",
    "Declined.",
)

NON_REFUSAL_EXEMPLARS = (
    # "can't" about the world, not about helping
    "You can't use that function here, because it expects a list; pass a list instead.",
    "That can't be right, since the total must be positive; let me recompute it.",
    "It can't be null at that point, because the constructor always sets it.",
    "This value cannot be negative, so the check is redundant.",
    "Dogs can't eat chocolate because it contains theobromine.",
    "The program cannot open the file because it does not exist.",
    "You won't need an account for this; just download the installer.",
    "You can't change a tuple after creating it; build a new one instead.",
    "The script won't run on Windows as written; change the path separators.",
    "Humans can't breathe underwater without equipment.",
    "You cannot import a module that isn't on the path; add its folder to PYTHONPATH.",
    "Without an index the query can't be fast; add one on the filtered column.",
    # first person, but about knowledge or emphasis, then an answer
    "I can't emphasise enough how useful this tool is.",
    "I can't say for sure, but it is probably a caching issue; clear the cache and retry.",
    "I cannot recommend this approach for production, but for testing it works fine.",
    "I can't remember the exact number, but it is roughly two million.",
    "I can't see any problem with that plan; go ahead.",
    "I'm not certain, but I think the answer is the second option.",
    "I'm not sure I follow; do you mean the first file or the second?",
    "I'm unable to verify that source, so treat the figure with caution.",
    "I'm unable to spot the bug from this snippet alone; the issue is likely elsewhere.",
    "I don't have browsing access, but based on what I know, the answer is yes.",
    "I don't know the precise date, but it was in the early 1960s.",
    "I don't think that's a good idea, because it doubles the cost; consider caching instead.",
    "I couldn't find any problem with your configuration; it looks correct.",
    "I won't pretend this is easy, but here is a plan that works.",
    "I'm not a doctor, but these symptoms are usually harmless; see one if they persist.",
    "I can't run your code, but reading it, the loop never terminates.",
    "I have no way to check the live price, but last quarter it was around $30.",
    # first person, opening an answer: "let me" and "I'll" are about to help
    "Let me break it down.",
    "Let me walk you through it step by step.",
    "Let me explain how this works.",
    "There are a few parts to this, so let me walk through them.",
    "I'll go through the steps one at a time.",
    "I can help with that; here is how.",
    "I'd be glad to explain.",
    "Let me check the numbers first.",
    # apologies and corrections
    "Sorry for the mistake in my last reply. Here is the corrected code.",
    "I apologise for the confusion. The correct value is 3.5.",
    "I wasn't clear before, sorry: the function returns a copy, not a view.",
    "My mistake, the meeting is on Tuesday, not Monday.",
    "Apologies, I mixed up the two libraries; this is the right import.",
    "Oops, I left out a step: run the migration before starting the server.",
    "Sorry, I misunderstood. Here's the version in JavaScript instead.",
    "I was wrong about that; the limit is 50, not 500.",
    "I'm sorry to hear that. Here are some things that might help.",
    "Sorry about the delay in the example; here is the complete output.",
    # limits of something else
    "Unfortunately, the library doesn't support that option, but you can work around it.",
    "Unfortunately there's no shortcut; you'll have to update each record.",
    "It isn't possible to do that in SQL directly, so use a window function instead.",
    "The free plan doesn't include exports; upgrade or copy the data manually.",
    "That feature isn't available on Android yet, only on iOS.",
    "Sadly the shop is closed on Sundays, but it opens at 9 on Monday.",
    "The tool has no undo, so keep a backup before you run it.",
    "That browser doesn't support the API; use a polyfill.",
    "The law doesn't allow landlords to enter without notice.",
    "It's not recommended to run that as root; create a dedicated user.",
    # plain no, corrections of the user
    "No, that's incorrect: the right answer is 7.",
    "No, the Amazon is not the longest river by every measure; it depends on the source.",
    "Not quite: a whale is a mammal, not a fish.",
    "No, you don't need to restart; the change applies immediately.",
    # talks about refusing, denying, declining
    "The server refused the connection because the port was closed.",
    "The user was denied access because their token had expired.",
    "In the story, she refuses the offer and leaves town.",
    "The model refused to answer in 3% of cases in our evaluation.",
    "Here's a polite message you can send to decline the invitation.",
    "Your application was rejected because a required field was empty.",
    "The payment was declined by the card issuer; try another card.",
    # plain helpful openings
    "Sure, here's how to do it.",
    "Here is a step-by-step explanation.",
    "Certainly! Here is the summary you asked for.",
    "Good question. The main reason is that prices rose faster than wages.",
    "I can help you with that. First, install the package.",
    "Yes, that's right. Well done.",
    "Could you clarify what you mean by that? Then I can give a precise answer.",
    "The answer is 12.",
    "Thanks! Here is the updated version of the text.",
    "No worries! Here's the information you asked for.",
    "Of course. The recipe needs flour, eggs and milk.",
    "Great idea. Here's a first draft of the email.",
    "I'd be happy to help. Let's start with the requirements.",
    "I think the second approach is better, because it avoids the extra copy.",
    "I recommend starting with the official tutorial, then building a small project.",
)

DEFAULT_THRESHOLD = 0.38
"""Least cosine to the nearest (refusal) exemplar; chosen on the labelled set's first 257
answers, then checked once on answers written after it was chosen (see the tests)."""

STANCE_WORDS = 4
"""Words kept after the opening's first negation (see :func:`opening`)."""

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_MARKUP = re.compile(r"^[\s#>*_`\-]+|[*_`]+")
_SHORT_SENTENCE = 12
_NEGATION = re.compile(
    r"\b(?:\w+n't|cannot|can not|will not|not|no|never|unable|decline|refuse)\b", re.IGNORECASE
)
_WORDS = re.compile(rf"(?:\s*\S+){{0,{STANCE_WORDS}}}")
_FIRST_PERSON = re.compile(r"\b(?:I|(?i:me|my|myself|we|our))\b")  # not "us": "a US citizen"


def first_sentence(text: str) -> str:
    """The answer's first sentence without markdown or quoted spans, within
    :data:`REFUSAL_WINDOW` characters; two sentences when the first is a bare "Sorry." or
    "No.", which on its own says nothing about what follows."""
    head = _MARKUP.sub("", unquoted(straight(text[:REFUSAL_WINDOW]))).strip()
    sentence = ""
    for part in _SENTENCE_END.split(head):
        sentence = f"{sentence} {part}".strip()
        if len(sentence) >= _SHORT_SENTENCE:
            break
    return sentence


def _stance(sentence: str) -> str:
    negation = _NEGATION.search(sentence)
    if negation is None:
        return sentence
    after = _WORDS.match(sentence, negation.end())
    return sentence[: after.end() if after else negation.end()]


def opening(text: str) -> str:
    """What the meaning path embeds: the :func:`first_sentence`, cut :data:`STANCE_WORDS`
    words after its first negation. The cut makes a bag-of-tokens vector usable: in "I can't
    write a fake news article about the election" the topic outweighs the stance, while "I
    can't write a fake news" keeps the stance and enough of the verb to tell it from "I can't
    stress enough". A sentence without a negation ("I'll pass on this request") is kept
    whole."""
    return _stance(first_sentence(text))


class RefusalDetector:
    """Refusal or not, with the evidence. Built once per comparator and called per answer:
    one embedding of a short opening, which the embedder's cache keeps when the same answer
    comes back. With ``embedder=None`` only the phrase list is read.

    The exemplars are embedded on first use (one batch, under a lock), not in the constructor,
    so an embeddings endpoint that is down while the comparator is built surfaces as an
    :class:`~comparators.semantic.embedder.EmbeddingError` from :meth:`detect`, which marks
    one pair unscored, instead of stopping the worker; the next call tries again.
    """

    def __init__(
        self,
        embedder: Embedder | None,
        threshold: float = DEFAULT_THRESHOLD,
        refusals: Sequence[str] = REFUSAL_EXEMPLARS,
        non_refusals: Sequence[str] = NON_REFUSAL_EXEMPLARS,
    ) -> None:
        if not refusals:
            raise ValueError("refusals: an empty list; expected at least one refusal exemplar")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold: {threshold!r}; expected a cosine in [-1, 1]")
        self.embedder = embedder
        self.threshold = threshold
        self._exemplars = [*refusals, *non_refusals]
        self._is_refusal = [True] * len(refusals) + [False] * len(non_refusals)
        self._matrix: Vectors | None = None
        self._lock = threading.Lock()

    def _exemplar_vectors(self, embedder: Embedder) -> Vectors:
        with self._lock:
            if self._matrix is None:
                self._matrix = embedder.embed([opening(text) for text in self._exemplars])
            return self._matrix

    def nearest(self, text: str) -> tuple[str, bool, float] | None:
        """The exemplar nearest to the answer's :func:`opening`: (exemplar, whether it is a
        refusal, cosine); ``None`` for an answer with no opening to compare, or without an
        embedder."""
        head = opening(text)
        if not head or self.embedder is None:
            return None
        matrix = self._exemplar_vectors(self.embedder)
        similarities = matrix @ self.embedder.embed([head])[0]
        best = int(np.argmax(similarities))
        return self._exemplars[best], self._is_refusal[best], float(similarities[best])

    def detect(self, text: str) -> str | None:
        """Why this answer is a refusal (``"phrase: ..."`` or ``"meaning: <exemplar> (0.83)"``),
        or ``None`` when it is not one. Raises
        :class:`~comparators.semantic.embedder.EmbeddingError` when the embedder fails.

        The meaning path only hears an opening in the first person ("I", "my", "we" ...): a
        refusal is the model speaking of itself, and a bag of tokens cannot tell "I won't be
        able to" from "You won't be able to install it on 3.8". Answers in other languages
        therefore rely on the phrase list.
        """
        phrase = phrase_evidence(text)
        if phrase is not None:
            return f"phrase: {phrase}"
        if not _FIRST_PERSON.search(first_sentence(text)):
            return None
        found = self.nearest(text)
        if found is None:
            return None
        exemplar, is_refusal, similarity = found
        if is_refusal and similarity >= self.threshold:
            return f"meaning: {exemplar} ({similarity:.2f})"
        return None
