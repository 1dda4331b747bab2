"""Property tests in two sizes: a share of the examples in the default run, every example behind ``-m slow``.

The project keeps ``pytest`` under 10 minutes on 2 cores; a property whose full number of examples takes tens of
seconds there runs the same claim on fewer examples by default, and on all of them with ``python -m pytest -m slow``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings


def in_two_sizes(claim: Callable[..., None], default: int, full: int, *strategies: Any,
                 health: tuple[HealthCheck, ...] = (HealthCheck.too_slow,),
                 **named_strategies: Any) -> tuple[Callable[..., None], Callable[..., None]]:
    """``claim`` under ``@given(*strategies, **named_strategies)``, twice: with ``default`` examples (the default
    run's test) and with ``full`` examples, marked ``slow``. No deadline; ``health`` are the checks suppressed."""
    if not 0 < default < full:
        raise ValueError(f"the default run's examples ({default}) must be fewer than the full run's ({full})")

    def sized(examples: int) -> Callable[..., None]:
        options = settings(max_examples=examples, deadline=None, suppress_health_check=list(health))
        return options(given(*strategies, **named_strategies)(claim))

    return sized(default), pytest.mark.slow(sized(full))
