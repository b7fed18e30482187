"""Decide: what a new article is, apart from storing it. One module answers each question:

    is this item new, changed, or due a revisit?       decide/new.py       (keys, item_hash)
    is this article a copy of one we hold?             decide/copies.py    (SimHash, index, threshold)
    which story does it join?                          decide/stories.py   (features, story index)
    does it report a new release, and its facts?       decide/releases.py  (one story's merged: decide/merge.py)
    which of its hits alert?                           decide/alerts.py    (release gate, stale news, follow-ups)

`Decider` (decide/decider.py) keeps the resident indexes and asks them in that order. Pure: no I/O. Importing
one module loads only that one: the read commands use alerts.py and merge.py without the extraction's patterns.
"""

from __future__ import annotations

import importlib

_LAZY = {"Decider": "monitor.decide.decider", "Decision": "monitor.decide.decider",
         "STORY_MEMORY": "monitor.decide.decider", "story_window": "monitor.decide.decider"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    """`from monitor.decide import Decider` loads decide/decider.py (and what it asks) on first use only."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
