"""Named regular languages from the literature on transformers and formal languages, as DFAs.

Every function returns a fresh :class:`~exactformer.languages.dfa.DFA` whose states have descriptive names. The
conventions (which words are accepted, the alphabet) are stated in each docstring because published references
disagree on several of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .dfa import DFA
from .errors import LanguagesError
from .groups import PermutationGroup
from .groups import group as _group

__all__ = ["parity", "first", "tomita", "modular_count", "word_problem", "dyck1", "flip_flop"]

BINARY = ("0", "1")


def parity() -> DFA:
    """PARITY: binary words with an **odd** number of 1s (Chiang & Cholak 2022; Hahn 2020).

    Alphabet ``{"0", "1"}``; the empty word is rejected. States ``"even"`` (start) and ``"odd"`` (accepting).
    Same language as ``modular_count(1, 2)``.
    """
    return DFA(
        states={"even", "odd"},
        alphabet=BINARY,
        transitions={("even", "0"): "even", ("even", "1"): "odd", ("odd", "0"): "odd", ("odd", "1"): "even"},
        start="even",
        accepting={"odd"},
    )


def first() -> DFA:
    """FIRST: binary words whose first symbol is ``1`` (Chiang & Cholak 2022).

    Alphabet ``{"0", "1"}``; the empty word is rejected. States ``"start"``, ``"yes"`` (accepting), ``"no"``.
    """
    return DFA(
        states={"start", "yes", "no"},
        alphabet=BINARY,
        transitions={
            ("start", "0"): "no", ("start", "1"): "yes",
            ("yes", "0"): "yes", ("yes", "1"): "yes",
            ("no", "0"): "no", ("no", "1"): "no",
        },
        start="start",
        accepting={"yes"},
    )


def modular_count(k: int, m: int, *, symbol: str = "1", alphabet: Sequence[str] = BINARY) -> DFA:
    """Words in which the number of occurrences of ``symbol`` is congruent to ``k`` modulo ``m``.

    The count is ``#symbol(w) mod m``; a word is accepted iff it equals ``k mod m`` (``k`` may be any integer).
    Other symbols of ``alphabet`` are ignored. States ``0 .. m-1`` (the count so far, mod ``m``); start ``0``.
    ``modular_count(1, 2)`` is PARITY; ``modular_count(0, m, alphabet=("1",))`` is ``{1^n : m | n}``.
    """
    if m < 1:
        raise LanguagesError(f"the modulus m must be at least 1, got {m}")
    alphabet = tuple(alphabet)
    if symbol not in alphabet:
        raise LanguagesError(f"the counted symbol {symbol!r} is not in the alphabet {alphabet}")
    transitions = {(r, a): ((r + 1) % m if a == symbol else r) for r in range(m) for a in alphabet}
    return DFA(states=range(m), alphabet=alphabet, transitions=transitions, start=0, accepting={k % m})


def tomita(k: int, *, include_empty: bool = True, reading: str = "anywhere") -> DFA:
    """Tomita grammar ``k`` (Tomita 1982), ``k = 1..7``, over ``{"0", "1"}``, as a complete DFA.

    1. ``1*``;
    2. ``(10)*`` -- **accepts the empty word** by default (as the Weiss, Goldberg & Yahav 2018 predicate and
       pythautomata do); ``include_empty=False`` gives ``(10)+``, the language of AALpy's Tomita 2 DFA;
    3. no odd-length run of 0s after an odd-length run of 1s. By default the **"anywhere later"** reading of
       Weiss et al. 2018 and AALpy: a word is rejected if some maximal odd run of 1s is followed, anywhere later,
       by a maximal odd run of 0s (a run of 0s ending the word counts). ``reading="immediate"`` gives the reading
       of pythautomata: rejected only if a maximal odd run of 1s is *immediately* followed by a maximal odd run of
       0s. The two first differ on ``100110``;
    4. no three consecutive 0s (``000`` is not a factor);
    5. an even number of 0s and an even number of 1s;
    6. ``#0 - #1`` divisible by 3;
    7. ``0*1*0*1*``.

    The defaults therefore follow Weiss, Goldberg & Yahav (ICML 2018) for every grammar; see
    ``docs/notes/data_sources.md`` (Tomita grammars) for the references and where they disagree.
    """
    if k == 1:
        return DFA(states={"ones", "dead"}, alphabet=BINARY, start="ones", accepting={"ones"},
                   transitions={("ones", "1"): "ones", ("ones", "0"): "dead",
                                ("dead", "0"): "dead", ("dead", "1"): "dead"})
    if k == 2:
        if include_empty:
            return DFA(states={"even", "odd", "dead"}, alphabet=BINARY, start="even", accepting={"even"},
                       transitions={("even", "1"): "odd", ("even", "0"): "dead",
                                    ("odd", "0"): "even", ("odd", "1"): "dead",
                                    ("dead", "0"): "dead", ("dead", "1"): "dead"})
        return DFA(states={"empty", "odd", "even", "dead"}, alphabet=BINARY, start="empty", accepting={"even"},
                   transitions={("empty", "1"): "odd", ("empty", "0"): "dead",
                                ("odd", "0"): "even", ("odd", "1"): "dead",
                                ("even", "1"): "odd", ("even", "0"): "dead",
                                ("dead", "0"): "dead", ("dead", "1"): "dead"})
    if k == 3:
        # clean: no odd 1-run yet (or the current 1-run is even); odd1: inside an odd 1-run;
        # then, once an odd 1-run was seen, every later 0-run must be even: zeros_odd / zeros_even.
        # The readings differ after an even 0-run that followed an odd 1-run: "anywhere" remembers the odd 1-run
        # (every later 0-run must be even too), "immediate" starts a new 1-run afresh.
        if reading not in ("anywhere", "immediate"):
            raise LanguagesError(f"Tomita 3 reading must be 'anywhere' or 'immediate', not {reading!r}")
        after_even_zeros = "zeros_even" if reading == "anywhere" else "odd1"
        return DFA(states={"clean", "odd1", "zeros_odd", "zeros_even", "dead"}, alphabet=BINARY, start="clean",
                   accepting={"clean", "odd1", "zeros_even"},
                   transitions={("clean", "0"): "clean", ("clean", "1"): "odd1",
                                ("odd1", "1"): "clean", ("odd1", "0"): "zeros_odd",
                                ("zeros_odd", "0"): "zeros_even", ("zeros_odd", "1"): "dead",
                                ("zeros_even", "0"): "zeros_odd", ("zeros_even", "1"): after_even_zeros,
                                ("dead", "0"): "dead", ("dead", "1"): "dead"})
    if k == 4:
        transitions = {(z, "1"): 0 for z in range(3)}
        transitions.update({(0, "0"): 1, (1, "0"): 2, (2, "0"): "dead", ("dead", "0"): "dead",
                            ("dead", "1"): "dead"})
        return DFA(states={0, 1, 2, "dead"}, alphabet=BINARY, start=0, accepting={0, 1, 2}, transitions=transitions)
    if k == 5:
        states = [(z, o) for z in range(2) for o in range(2)]
        transitions = {((z, o), "0"): (1 - z, o) for z, o in states}
        transitions.update({((z, o), "1"): (z, 1 - o) for z, o in states})
        return DFA(states=states, alphabet=BINARY, start=(0, 0), accepting={(0, 0)}, transitions=transitions)
    if k == 6:
        transitions = {(r, "0"): (r + 1) % 3 for r in range(3)}
        transitions.update({(r, "1"): (r - 1) % 3 for r in range(3)})
        return DFA(states=range(3), alphabet=BINARY, start=0, accepting={0}, transitions=transitions)
    if k == 7:
        # phase p: reading the p-th block of 0*1*0*1* (0-based); a further change of symbol is fatal
        transitions = {(0, "0"): 0, (0, "1"): 1, (1, "1"): 1, (1, "0"): 2, (2, "0"): 2, (2, "1"): 3,
                       (3, "1"): 3, (3, "0"): "dead", ("dead", "0"): "dead", ("dead", "1"): "dead"}
        return DFA(states={0, 1, 2, 3, "dead"}, alphabet=BINARY, start=0, accepting={0, 1, 2, 3},
                   transitions=transitions)
    raise LanguagesError(f"Tomita grammars are numbered 1..7, got {k!r}")


def word_problem(group: str | PermutationGroup, *, alphabet: str = "elements") -> DFA:
    """The word problem of a finite group: words whose left-to-right product is the identity.

    Parameters
    ----------
    group
        ``"A5"``, ``"S5"``, ``"Z3"`` (any ``"Z<m>"``, ``"C<m>"``, ``"S<n>"``, ``"A<n>"``) or a
        :class:`~exactformer.languages.groups.PermutationGroup` (e.g. ``cyclic(5)``).
    alphabet
        ``"elements"`` (default): one symbol per group element, ``ELEMENT_SYMBOLS[i]`` for ``group.elements[i]``
        (``"0"`` is the identity; for ``Z_m`` with ``m <= 10`` the symbol ``"k"`` adds ``k``). ``"generators"``:
        ``"a"``, ``"b"``, ... for the group's generators (A5: a = (0 1 2), b = (0 1 2 3 4); S5: a = (0 1),
        b = (0 1 2 3 4); Z_m: a = +1). ``group(g).alphabet(kind)`` gives the symbol -> permutation map.

    Returns
    -------
    DFA
        States ``0 .. |G|-1`` (state ``i`` is ``group.elements[i]``, the product so far), start and sole accepting
        state ``0`` (the identity). The empty word is accepted. The DFA is complete and minimal, and its transition
        monoid is the group itself.
    """
    g = _group(group)
    symbols = g.alphabet(alphabet)
    transitions = {(i, a): g.index(g.multiply(e, p)) for i, e in enumerate(g.elements) for a, p in symbols.items()}
    return DFA(states=range(g.order), alphabet=symbols.keys(), transitions=transitions, start=0, accepting={0})


def dyck1(max_depth: int, *, brackets: tuple[str, str] = ("(", ")")) -> DFA:
    """Balanced words over one bracket pair whose nesting depth never exceeds ``max_depth`` (bounded Dyck-1).

    States ``0 .. max_depth`` (the current depth); start and accepting state ``0``. The DFA is partial: opening past
    ``max_depth`` or closing at depth 0 has no transition, so the word is rejected. The empty word is accepted.
    """
    if max_depth < 0:
        raise LanguagesError(f"max_depth must be non-negative, got {max_depth}")
    open_, close = brackets
    if open_ == close:
        raise LanguagesError("the opening and closing brackets must differ")
    transitions = {(d, open_): d + 1 for d in range(max_depth)}
    transitions.update({(d, close): d - 1 for d in range(1, max_depth + 1)})
    return DFA(states=range(max_depth + 1), alphabet=brackets, transitions=transitions, start=0, accepting={0})


def flip_flop() -> DFA:
    """The flip-flop language of Liu et al. (NeurIPS 2023, "Exposing Attention Glitches with Flip-Flop Language
    Modeling"), one token per symbol.

    Alphabet ``{"w", "r", "i", "0", "1"}``. A word is a sequence of instruction-bit pairs
    ``s1 b1 s2 b2 ... sk bk`` with ``s`` in ``{w, r, i}`` (write, read, ignore) and ``b`` in ``{0, 1}``. It is
    accepted iff it has this shape and the bit after every ``r`` equals the bit after the most recent ``w``; a read
    before any write is rejected. The empty word is accepted. The DFA is partial (ill-formed words fall off).

    States: ``"ready:-"``, ``"ready:0"``, ``"ready:1"`` (expecting an instruction; the stored bit, ``-`` if none),
    ``"after_w"``, ``"after_r:0"``/``"after_r:1"`` and ``"after_i:-"``/``"after_i:0"``/``"after_i:1"``.
    """
    stored = ("-", "0", "1")
    transitions: dict[tuple[str, str], str] = {}
    for s in stored:
        transitions[(f"ready:{s}", "w")] = "after_w"
        transitions[(f"ready:{s}", "i")] = f"after_i:{s}"
        for b in BINARY:
            transitions[(f"after_i:{s}", b)] = f"ready:{s}"
        if s != "-":
            transitions[(f"ready:{s}", "r")] = f"after_r:{s}"
            transitions[(f"after_r:{s}", s)] = f"ready:{s}"
    for b in BINARY:
        transitions[("after_w", b)] = f"ready:{b}"
    states = {q for q, _ in transitions} | set(transitions.values())
    return DFA(states=states, alphabet=("w", "r", "i", "0", "1"), transitions=transitions, start="ready:-",
               accepting={f"ready:{s}" for s in stored})
