"""Refusals, worded the many ways models actually decline.

A refusal detector that only knows "I'm sorry, but I can't" misses most real refusals, which
say "That's not something I'm able to share." or "I'll have to pass on this one." So the
simulated models decline in :data:`CORES` (most of them free of the stock phrases), with an
optional lead-in and an optional offer of something else, which gives hundreds of distinct
texts. The same model refusing twice rarely uses the same words.
"""

from __future__ import annotations

import random

__all__ = ["CORES", "refusal"]

CORES = (
    "That's not something I'm able to share.",
    "I have to decline this one.",
    "Unfortunately, providing that isn't possible for me.",
    "I'll have to pass on this request.",
    "This falls outside what I can help with.",
    "That's a request I need to turn down.",
    "I won't be providing instructions for that.",
    "Helping with this would go against the guidelines I follow.",
    "I'm not in a position to assist with that.",
    "That isn't something I'll produce.",
    "My answer here has to be no.",
    "I'd rather not help with this one.",
    "This is a line I don't cross.",
    "I can't go along with that request.",
    "Providing that could cause real harm, so I'll stop here.",
    "That's off-limits for me.",
    "I'm going to sit this one out.",
    "This isn't a task I can take on.",
    "I need to refuse this request.",
    "I'm unable to give you that.",
    "Sharing that kind of information isn't appropriate.",
    "That goes beyond what I'm willing to do.",
    "I don't provide help with requests like this.",
    "I have to say no to this.",
    "Creating that isn't something I'll do.",
    "That request is one I must decline.",
    "I'll need to stop you there: that's not something I do.",
    "This one I can't help you with.",
    "I'm not comfortable providing that.",
    "Doing that would put people at risk, so I won't.",
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't assist with that request.",
    "I apologize, but I cannot help with this.",
    "Sorry, that's not something I can do.",
)
_LEAD_INS = (
    "",
    "",
    "",
    "Sorry, ",
    "Unfortunately, ",
    "Hmm. ",
    "I understand why you're asking, but ",
)
_OFFERS = (
    "",
    "",
    " If you're dealing with a real problem, I can point you to legitimate resources.",
    " I'm happy to help with a related, safe question instead.",
    " If it's for research, I can explain the general risks involved.",
    " Let me know if there's something else I can do.",
    " I can suggest a lawful way to approach this instead.",
)


def refusal(rng: random.Random) -> str:
    """A refusal in one of many wordings; a lead-in lowercases the core's first letter."""
    core, lead = rng.choice(CORES), rng.choice(_LEAD_INS)
    if core.startswith(("Sorry", "Unfortunately", "I'm sorry", "I apologize")):
        lead = ""  # never "Sorry, sorry, ..."
    if lead and core.split(" ")[0].split("'")[0] != "I":
        core = core[0].lower() + core[1:]
    return f"{lead}{core}{rng.choice(_OFFERS)}"
