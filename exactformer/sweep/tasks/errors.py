"""The error a sweep configuration raises (here, so that the tasks' registry and the parser share it)."""

from __future__ import annotations


class SweepConfigError(ValueError):
    """A configuration that cannot be run: the message names the key and what is wrong with it."""
