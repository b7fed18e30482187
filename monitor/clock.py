"""The wall clock: `utcnow()`, the one default `now` that the pipeline, the service and the CLI hand to the
pure core (which never reads a clock itself). A module of its own so a read command gets it without
importing the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
