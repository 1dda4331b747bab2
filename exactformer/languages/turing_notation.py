"""The bbchallenge standard text notation of Turing machines (``1RB1LB_1LA0LC_1RZ1LD_1RD0RA``), read and written.

One ``_``-separated group per state ``A, B, C, ...``; in each group one 3-character cell per symbol read
``0, 1, 2, ...``: the symbol written, the move ``L``/``R``, the next state. A next-state letter at or beyond
``A + (number of states)`` (conventionally ``Z``, or ``H``) is a halting state; ``---`` is an undefined transition.
The older space-separated form of the Ligocki lists (``1RB 2LA 1LC  0LA 2RB 1LB ...``: one space between cells, two
between states) is read too. :meth:`~exactformer.languages.turing.TuringMachine.from_standard` and
:meth:`~exactformer.languages.turing.TuringMachine.to_standard` wrap these functions.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from .errors import InvalidMachineError, ParseError

__all__ = ["STATE_LETTERS", "parse_standard", "write_standard"]

#: The state names of the standard notation, in order (the start state is ``A``).
STATE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_standard(text: str) -> dict[str, Any]:
    """The parts of the machine ``text`` describes (``states``, ``alphabet``, ``transitions``, ``start``,
    ``halting``, ``blank``): symbols are ``int`` (blank ``0``), states one-letter strings, the start ``"A"``.

    Raises
    ------
    ParseError
        Naming the malformed group or cell.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the machine's text, not {type(text).__name__}")
    body = text.strip()
    if "_" in body or " " not in body:
        groups = body.split("_")
    else:
        groups = [g.replace(" ", "") for g in re.split(r"\s{2,}", body)]
    if not groups or not groups[0]:
        raise ParseError(f"empty Turing machine text {text!r}")
    n = len(groups)
    if n > len(STATE_LETTERS):
        raise ParseError(f"{n} states; the standard notation names at most {len(STATE_LETTERS)}")
    width = len(groups[0])
    if width % 3 or width == 0:
        raise ParseError(f"group {groups[0]!r} of {text!r} is not a whole number of 3-character cells")
    k = width // 3
    names = STATE_LETTERS[:n]
    transitions: dict[tuple[str, int], tuple[int, str, str]] = {}
    halting: set[str] = set()
    for qi, group in enumerate(groups):
        if len(group) != width:
            raise ParseError(f"group {qi + 1} ({group!r}) of {text!r} has {len(group)} characters, "
                             f"expected {width} (every state reads the same {k} symbols)")
        for a in range(k):
            cell = group[3 * a: 3 * a + 3]
            if cell == "---":
                continue
            m = re.fullmatch(r"(\d)([LR])([A-Z])", cell)
            if m is None:
                raise ParseError(f"cell {cell!r} (state {names[qi]}, symbol {a}) of {text!r} is not "
                                 "<digit><L|R><state letter> or ---")
            w, d, q2 = int(m.group(1)), m.group(2), m.group(3)
            if w >= k:
                raise ParseError(f"cell {cell!r} of {text!r} writes {w}, but the machine has {k} symbols")
            if STATE_LETTERS.index(q2) >= n:
                halting.add(q2)
            transitions[(names[qi], a)] = (w, d, q2)
    return {"states": names, "alphabet": range(k), "transitions": transitions, "start": "A", "halting": halting,
            "blank": 0}


def write_standard(*, states: Iterable[Hashable], alphabet: Iterable[Hashable], transitions: Mapping[Any, Any],
                   start: Hashable, blank: Hashable) -> str:
    """The machine in the standard notation (needs working states ``A..``, start ``A``, symbols ``0..k-1``, blank
    ``0``; an :class:`~exactformer.languages.errors.InvalidMachineError` otherwise)."""
    states, alphabet = set(states), set(alphabet)
    n = len(states)
    names = STATE_LETTERS[:n]
    if set(names) != set(states) or start != "A":
        raise InvalidMachineError("to_standard() needs working states named A, B, ... with start A")
    k = len(alphabet)
    if set(alphabet) != set(range(k)) or blank != 0:
        raise InvalidMachineError("to_standard() needs symbols 0..k-1 with blank 0")
    groups = []
    for q in names:
        cells = []
        for a in range(k):
            act = transitions.get((q, a))
            cells.append("---" if act is None else f"{act.write}{act.move}{act.next_state}")
        groups.append("".join(cells))
    return "_".join(groups)
