"""Tag systems and their synchronous Post machines on a ring.

An m-tag system reads the first symbol x of the word, appends the production P(x) and deletes the first m symbols.
Two halting conventions are in use (``docs/notes/data_sources.md``, Tag systems):

* ``"short"`` (Wikipedia, De Mol): halt on any word of length < m;
* ``"empty"`` (OEIS, Post's system): always step (a short word is deleted entirely); the empty word is absorbing, so
  the run halts when the word becomes empty.

:func:`collatz_tag_system` is De Mol's 2-tag system (a -> bc, b -> a, c -> aaa) computing the shortcut Collatz map on
a^n; :func:`post_tag_system` is Post's 3-tag system {0 -> 00, 1 -> 1101}.

:func:`tag_post_machine` compiles an m-tag system (``"short"`` convention, non-empty productions) into a synchronous
Post machine on a ring of L cells holding the word followed by blanks (``docs/notes/post_machine.md`` §6.2,
generalised from m = 2 to any m >= 2). One tag step costs exactly L + m Post steps (the note's L + 2 for m = 2),
plus 2k at the halt, k the final word's length.

This module is a reference: it imports no construction.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ._common import Immutable, freeze_mapping
from .errors import InvalidMachineError, SymbolNotInAlphabetError
from .post import PostMachine

__all__ = ["TagSystem", "TagResult", "TagRing", "collatz_tag_system", "post_tag_system", "tag_post_machine", "BLANK"]

BLANK = "_"


@dataclass(frozen=True)
class TagResult:
    """The outcome of :meth:`TagSystem.run`: ``halted``, ``steps`` taken, the final ``word``, the ``words`` visited
    (the start word first) when asked for, and the longest word length seen."""

    halted: bool
    steps: int
    word: str
    words: tuple[str, ...] | None
    max_length: int


class TagSystem(Immutable):
    """An m-tag system over single-character symbols (immutable, keyword-only, validated).

    Parameters
    ----------
    deletion
        m >= 1, the number of symbols deleted per step.
    productions
        ``{symbol: word}``; every symbol of the alphabet has a production and every production is over the alphabet.
    halt
        ``"short"`` (halt on words shorter than m) or ``"empty"`` (halt on the empty word only).
    """

    __slots__ = ("deletion", "productions", "halt")

    #: The deletion number m.
    deletion: int
    #: ``{symbol: production}`` (read-only).
    productions: Mapping[str, str]
    #: The halting convention, ``"short"`` or ``"empty"``.
    halt: str

    def __init__(self, *, deletion: int, productions: Mapping[str, str], halt: str = "short") -> None:
        if not isinstance(deletion, int) or deletion < 1:
            raise InvalidMachineError(f"the deletion number must be a positive integer, got {deletion!r}")
        if halt not in ("short", "empty"):
            raise InvalidMachineError(f"halt must be 'short' or 'empty', not {halt!r}")
        prods = dict(productions)
        if not prods:
            raise InvalidMachineError("a tag system needs at least one production")
        for x, w in prods.items():
            if not (isinstance(x, str) and len(x) == 1) or x == BLANK:
                raise InvalidMachineError(f"tag symbols are single characters other than {BLANK!r}, got {x!r}")
            if not isinstance(w, str):
                raise InvalidMachineError(f"the production of {x!r} must be a string, got {w!r}")
            bad = [c for c in w if c not in prods]
            if bad:
                raise InvalidMachineError(f"the production {x!r} -> {w!r} uses {bad[0]!r}, which has no production")
        self._set(deletion=deletion, productions=freeze_mapping(prods), halt=halt)

    def __repr__(self) -> str:
        return f"TagSystem(deletion={self.deletion}, productions={dict(self.productions)!r}, halt={self.halt!r})"

    @property
    def alphabet(self) -> tuple[str, ...]:
        return tuple(sorted(self.productions))

    def _check(self, word: str) -> str:
        if not isinstance(word, str):
            raise TypeError(f"a tag-system word is a str, not {type(word).__name__}")
        for i, c in enumerate(word):
            if c not in self.productions:
                raise SymbolNotInAlphabetError(
                    f"symbol {c!r} at position {i} is not in the alphabet {list(self.alphabet)}"
                )
        return word

    def halted(self, word: str) -> bool:
        """Whether ``word`` is a halting word under this system's convention."""
        return len(word) < self.deletion if self.halt == "short" else not word

    def step(self, word: str) -> str:
        """One step: append P(first symbol), delete the first m symbols."""
        word = self._check(word)
        if self.halted(word):
            raise InvalidMachineError(f"the word {word!r} is halted; it has no successor")
        return (word + self.productions[word[0]])[self.deletion :]

    def trajectory(self, word: str, max_steps: int) -> Iterator[str]:
        """The words of the run, the start word first, at most ``max_steps`` steps."""
        w = self._check(word)
        yield w
        for _ in range(max_steps):
            if self.halted(w):
                return
            w = (w + self.productions[w[0]])[self.deletion :]
            yield w

    def run(self, word: str, max_steps: int = 1_000_000, *, keep_words: bool = False) -> TagResult:
        """Run from ``word`` until it halts or ``max_steps`` steps have been taken."""
        steps, longest, words = -1, 0, []
        w = word
        for w in self.trajectory(word, max_steps):
            steps += 1
            longest = max(longest, len(w))
            if keep_words:
                words.append(w)
        return TagResult(
            halted=self.halted(w), steps=steps, word=w, words=tuple(words) if keep_words else None, max_length=longest
        )


def collatz_tag_system() -> TagSystem:
    """De Mol's 2-tag system a -> bc, b -> a, c -> aaa (Wikipedia alphabet); a^n runs the shortcut Collatz map and
    halts (convention ``"short"``) on the word ``a`` when the trajectory reaches 1."""
    return TagSystem(deletion=2, productions={"a": "bc", "b": "a", "c": "aaa"}, halt="short")


def post_tag_system(halt: str = "empty") -> TagSystem:
    """Post's 3-tag system {0 -> 00, 1 -> 1101} (OEIS convention ``"empty"`` by default)."""
    return TagSystem(deletion=3, productions={"0": "00", "1": "1101"}, halt=halt)


@dataclass(frozen=True)
class TagRing:
    """A tag system compiled to a synchronous Post machine on a ring of ``ring_length`` cells.

    Attributes
    ----------
    machine
        The Post machine (queue symbols: the tag symbols and :data:`BLANK`).
    ring_length
        L, the queue length; it must exceed every word length of the run (otherwise the machine gets stuck).
    """

    machine: PostMachine
    ring_length: int
    system: TagSystem

    def queue(self, word: str) -> tuple[str, ...]:
        """The initial queue: ``word`` then blanks up to L."""
        word = self.system._check(word)
        if len(word) >= self.ring_length:
            raise InvalidMachineError(
                f"the word has length {len(word)}; a ring of {self.ring_length} cells holds "
                f"words of length at most {self.ring_length - 1}"
            )
        return tuple(word) + (BLANK,) * (self.ring_length - len(word))

    @staticmethod
    def word(queue: Sequence[Hashable]) -> str:
        """The word on a ring queue: its non-blank cells, read cyclically from just after a blank."""
        q = list(queue)
        if BLANK not in q:
            return "".join(map(str, q))
        i = q.index(BLANK)
        return "".join(str(c) for c in q[i + 1 :] + q[: i + 1] if c != BLANK)

    def post_steps(self, tag_steps: int, final_length: int = 1) -> int:
        """The exact number of Post steps of a halting run: (L + m)·steps + 2k, m the deletion number, k the final
        word's length (m = 2 and k = 1 for De Mol's Collatz system, the note's (L + 2)·steps + 2; at the halt: the
        first deletion, k - 1 more, one blank read and k - 1 restores)."""
        return (self.ring_length + self.system.deletion) * tag_steps + 2 * final_length


def tag_post_machine(system: TagSystem, ring_length: int) -> TagRing:
    """Compile ``system`` (convention ``"short"``, m >= 2, non-empty productions) to a Post machine on a ring.

    States (every row dequeues one cell and enqueues one):

    * ``S0``: the first symbol x of the start word: emit ``_``, go ``D:x`` (deleted prefix x);
    * ``D:w`` (w the deleted prefix, |w| < m): on a symbol y, emit ``_`` and go ``D:wy``, or ``C:P(w0)`` once m
      symbols are deleted; on ``_`` the word was w, shorter than m: emit w0 and restore the rest (``R:..``), then
      ``H``;
    * ``C:p`` copies the rest of the word; on ``_`` it emits p0 and goes ``A:p[1:]``;
    * ``A:r`` appends the rest of the production on blanks; ``A:`` (r empty) emits ``_`` and goes ``K``;
    * ``K`` skips blanks; on a symbol x it emits ``_`` and goes ``D:x``.

    Proof sketch: the non-blank cells are always one cyclic run (the word being rewritten), so the ring must be
    longer than every word. A tag step starts when the first symbol x is dequeued (``S0`` or ``K``): m - 1 further
    deletions, the copy of the rest of the word and the append of P(x) dequeue exactly the word cells then
    |P(x)| blanks; ``A:`` and ``K`` then dequeue the blanks up to the next word's first symbol. That symbol (the
    (m + 1)-th of the old word, or P(x)'s first when the old word had exactly m) was enqueued m Post steps after x
    was dequeued, and comes out L steps later: L + m Post steps per tag step. The exact count (L + m)·steps + 2k
    (:meth:`TagRing.post_steps`) is asserted by the tests over many systems, inputs and rings, not assumed here.
    """
    if system.halt != "short":
        raise InvalidMachineError(
            "the ring Post machine implements the 'short' halting convention; build the tag system with halt='short'"
        )
    m = system.deletion
    if m < 2:
        raise InvalidMachineError("the ring Post machine needs a deletion number of at least 2")
    empty = [x for x, w in system.productions.items() if not w]
    if empty:
        raise InvalidMachineError(f"the production of {empty[0]!r} is empty; the ring machine needs non-empty ones")
    if not isinstance(ring_length, int) or ring_length < 2:
        raise InvalidMachineError(f"the ring length must be an integer >= 2, got {ring_length!r}")
    sigma = system.alphabet
    delta: dict[tuple[str, str], tuple[str, str]] = {}
    states = {"S0", "K", "H"}

    def restore(rest: str) -> str:
        return "H" if not rest else f"R:{rest}"

    # deletion states D:w for every prefix w of length 1..m-1
    prefixes = [x for x in sigma]
    all_prefixes: list[str] = []
    while prefixes:
        all_prefixes += prefixes
        prefixes = [w + y for w in prefixes for y in sigma if len(w) + 1 < m]
    for x in sigma:
        delta[("S0", x)] = (BLANK, f"D:{x}")
        delta[("K", x)] = (BLANK, f"D:{x}")
    delta[("K", BLANK)] = (BLANK, "K")
    delta[("S0", BLANK)] = (BLANK, "H")  # the empty word is halted
    for w in all_prefixes:
        d = f"D:{w}"
        states.add(d)
        for y in sigma:
            delta[(d, y)] = (BLANK, f"C:{system.productions[w[0]]}" if len(w) + 1 == m else f"D:{w}{y}")
        delta[(d, BLANK)] = (w[0], restore(w[1:]))
        rest = w[1:]
        while rest:  # R:rest emits rest on blanks
            states.add(f"R:{rest}")
            delta[(f"R:{rest}", BLANK)] = (rest[0], restore(rest[1:]))
            rest = rest[1:]
    for p in set(system.productions.values()):
        c = f"C:{p}"
        states.add(c)
        for y in sigma:
            delta[(c, y)] = (y, c)
        delta[(c, BLANK)] = (p[0], f"A:{p[1:]}")
        r = p[1:]
        while True:
            states.add(f"A:{r}")
            if r:
                delta[(f"A:{r}", BLANK)] = (r[0], f"A:{r[1:]}")
                r = r[1:]
            else:
                delta[("A:", BLANK)] = (BLANK, "K")
                break
    pm = PostMachine(symbols=(*sigma, BLANK), states=states, transitions=delta, start="S0", halting=["H"])
    return TagRing(machine=pm, ring_length=ring_length, system=system)
