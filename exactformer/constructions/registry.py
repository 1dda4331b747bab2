"""The registry of constructions: a name, a builder, its default options and sizes, an example input and a reference.

A plain table that imports only the core: which reference checks which construction is written in
:mod:`exactformer.catalog`, which registers every entry (importing :mod:`exactformer` imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.construction import Construction

__all__ = ["Entry", "register", "get", "build", "names", "REGISTRY"]


@dataclass(frozen=True)
class Entry:
    """One registered construction.

    ``example`` is an input the CLI's ``trace`` uses when none is given; ``options`` are the builder's keyword
    arguments with their defaults (what ``--option key=value`` may set). ``reference`` builds the independent
    reference that ``exactformer verify`` checks against (it may take the built construction, e.g. to read the
    DFA it was built from); ``lengths`` are the default sizes to verify: a tuple, or a function of the built
    construction when they depend on the builder's options (a Post machine's window, a largest graph). Read them
    with :meth:`default_lengths`.
    """

    name: str
    builder: Callable[..., Construction]
    summary: str
    example: Any
    options: dict[str, Any] = field(default_factory=dict)
    reference: Callable[[Construction], Any] | None = None
    lengths: tuple[int, ...] | Callable[[Construction], Sequence[int]] = tuple(range(0, 17))

    def default_lengths(self, construction: Construction | None = None) -> tuple[int, ...]:
        """The default sizes to verify ``construction`` (built with the entry's default options when omitted)."""
        if callable(self.lengths):
            if construction is None:
                construction = self.builder(**self.options)
            return tuple(self.lengths(construction))
        return tuple(self.lengths)


REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Add ``entry`` to the registry (a name may be registered once)."""
    if entry.name in REGISTRY:
        raise ValueError(f"a construction named {entry.name!r} is already registered")
    REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    """Registered names, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> Entry:
    """The entry called ``name``; the error lists the registered names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no construction named {name!r}; registered: {', '.join(names())}") from None


def build(name: str, **options: Any) -> Construction:
    """Build the construction called ``name`` with builder ``options``."""
    entry = get(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise TypeError(f"{name} takes no option(s) {unknown}; its options are {sorted(entry.options)}")
    return entry.builder(**options)
