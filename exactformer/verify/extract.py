"""Learn the DFA a black-box recognizer computes, by L* (AALpy), and compare it with the reference.

:func:`extract_dfa` asks the model only for answers. AALpy's L* (``run_Lstar``) fills its observation table by
*membership queries*, answered by the model (every distinct word is run once: the answers are cached, and each
batch of rows the table needs is run as one batch per word length); each hypothesis is then put to a *bounded
equivalence query*:

* ``equivalence="words"`` (the default): every word of length ``0..k`` where all of a length number at most
  ``exhaustive_limit``, then ``random_words`` uniformly random words of each further length up to ``max_length``
  (seeded), shortest first, so the counterexample returned is a shortest one among them;
* ``equivalence="w-method"``: AALpy's W-method test suite (complete for a model whose minimal DFA has at most
  ``extra_states`` more states than the hypothesis), its words run in batches before AALpy walks them.

Neither is a proof: the learned DFA agrees with the model on every word the learner asked and every word the
bound tested, and the result states the bound (:attr:`Extraction.bound`). The learned automaton is converted to
the library's :class:`~exactformer.languages.DFA`, and both it and the reference are minimised
(:meth:`~exactformer.languages.DFA.minimize`); the languages are compared by a breadth-first search of their
product (:meth:`~exactformer.languages.DFA.distinguishing_word`), which gives a shortest word on which they
differ, and the model is asked that word once more so the result says what the model itself answers there.

A model that refuses a word as outside its domain (:class:`~exactformer.core.errors.InputError`, e.g. the empty
word for the PARITY and FIRST constructions) is an error unless ``outside_domain`` says how to answer such words:
``"reference"`` (the reference's answer, so the comparison is over the model's domain) or a fixed ``bool``; the
words so answered are listed in :attr:`Extraction.outside_domain`.
"""

from __future__ import annotations

import importlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aalpy.base import SUL, Oracle
from aalpy.learning_algs import run_Lstar
from aalpy.learning_algs.deterministic.ObservationTable import ObservationTable
from aalpy.oracles import WMethodEqOracle

from ..core.errors import InputError
from ..languages.dfa import DFA
from .black_box import OUTSIDE_DOMAIN, BlackBox, as_black_box, render

__all__ = ["Extraction", "extract_dfa", "dfa_from_aalpy"]

Letters = tuple[Any, ...]


@dataclass(frozen=True)
class Extraction:
    """What :func:`extract_dfa` learned, and how it compares with the reference.

    Attributes
    ----------
    model
        The model's name.
    learned
        The learned language's minimal complete DFA (states ``0, 1, ...`` in breadth-first order).
    reference
        The reference's minimal complete DFA (``None`` when no reference was given).
    equivalent
        Whether the two accept the same words (``None`` without a reference).
    disagreement
        A shortest word accepted by exactly one of them (``None`` when equivalent).
    model_answer, reference_answer
        The model's and the reference's answers on :attr:`disagreement`.
    queries
        Distinct words the model answered; ``membership_queries`` of them asked by L* (table and counterexample
        processing), ``equivalence_queries`` by the equivalence tests.
    rounds
        L* hypotheses put to the equivalence test.
    bound
        The equivalence bound, in words: what the learned DFA is known to agree with the model on.
    outside_domain
        Words the model refused as outside its domain, answered by the ``outside_domain`` rule.
    seconds
        Wall-clock time of the extraction.
    """

    model: str
    alphabet: tuple[Any, ...]
    learned: DFA
    reference: DFA | None
    equivalent: bool | None
    disagreement: Any
    model_answer: bool | None
    reference_answer: bool | None
    queries: int
    membership_queries: int
    equivalence_queries: int
    rounds: int
    bound: str
    outside_domain: tuple[Any, ...]
    seconds: float

    @property
    def states(self) -> int:
        """States of the learned minimal DFA."""
        return len(self.learned.states)

    def render(self) -> str:
        """A few readable lines: the verdict, the sizes, the queries, the bound."""
        if self.reference is None:
            verdict = f"learned {self.model}: {self.states} states (no reference to compare with)"
        elif self.equivalent:
            verdict = (f"AGREES: {self.model} learned as a {self.states}-state minimal DFA, equivalent to the "
                       f"reference's {len(self.reference.states)}-state minimal DFA")
        else:
            verdict = (f"DISAGREES: {self.model} learned as a {self.states}-state minimal DFA, the reference's has "
                       f"{len(self.reference.states)}; shortest disagreeing word {self.disagreement!r} (model "
                       f"{_yes(self.model_answer)}, reference {_yes(self.reference_answer)})")
        lines = [verdict,
                 f"queries: {self.queries} distinct words ({self.membership_queries} membership, "
                 f"{self.equivalence_queries} equivalence), {self.rounds} hypotheses, {self.seconds:.2f} s",
                 f"bound: {self.bound}"]
        if self.outside_domain:
            shown = ", ".join(repr(w) for w in self.outside_domain[:5])
            more = f" and {len(self.outside_domain) - 5} more" if len(self.outside_domain) > 5 else ""
            lines.append(f"outside the model's domain (answered by the outside_domain rule): {shown}{more}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _yes(answer: bool | None) -> str:
    return "-" if answer is None else ("accepts" if answer else "rejects")


def dfa_from_aalpy(automaton: Any, alphabet: Iterable[Any]) -> DFA:
    """An AALpy ``Dfa`` as the library's :class:`~exactformer.languages.DFA` (state ids kept)."""
    states = [s.state_id for s in automaton.states]
    transitions = {(s.state_id, a): t.state_id for s in automaton.states for a, t in s.transitions.items()}
    return DFA(states=states, alphabet=alphabet, transitions=transitions, start=automaton.initial_state.state_id,
               accepting={s.state_id for s in automaton.states if s.is_accepting})


class _Answers:
    """The model's answers, cached by word (a tuple of letters), asked in batches; counts who asked first."""

    def __init__(self, box: BlackBox, fill: Callable[[Letters], bool] | None, batch_size: int) -> None:
        self.box, self.fill, self.batch_size = box, fill, batch_size
        self.cache: dict[Letters, bool] = {}
        self.asked = {"membership": 0, "equivalence": 0}
        self.phase = "membership"
        self.outside: list[Letters] = []

    def ask(self, words: Iterable[Letters]) -> None:
        missing = sorted({w for w in words if w not in self.cache}, key=_shortlex)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            for w, answer in zip(chunk, self.box.answers([render(w) for w in chunk])):
                if answer is OUTSIDE_DOMAIN:
                    assert self.fill is not None  # domain_errors is only set together with a fill rule
                    self.outside.append(w)
                    answer = self.fill(w)
                self.cache[w] = answer
            self.asked[self.phase] += len(chunk)

    def __call__(self, word: Letters) -> bool:
        if word not in self.cache:
            self.ask([word])
        return self.cache[word]


def _shortlex(word: Letters) -> tuple[int, tuple[str, ...]]:
    return len(word), tuple(map(str, word))


def _prefixes(word: Letters) -> list[Letters]:
    return [word[:i] for i in range(1, len(word) + 1)] or [()]


class _ModelSUL(SUL):
    """The model as AALpy's system under learning: the output after each letter is the model's answer on the prefix
    read so far (the empty word's after ``step(None)``)."""

    def __init__(self, answers: _Answers) -> None:
        super().__init__()
        self.answers = answers
        self.word: Letters = ()

    def pre(self) -> None:
        self.word = ()

    def post(self) -> None:
        pass

    def step(self, letter: Any) -> bool:
        if letter is not None:
            self.word += (letter,)
        return self.answers(self.word)

    def prefetch(self, words: Iterable[Letters]) -> None:
        self.answers.phase = "membership"
        self.answers.ask(p for w in words for p in _prefixes(tuple(w)))

    def query(self, word: tuple) -> list:
        self.num_queries += 1
        prefixes = _prefixes(tuple(word))
        self.prefetch([tuple(word)])
        return [self.answers(p) for p in prefixes]


class _BatchedTable(ObservationTable):  # type: ignore[misc]
    """AALpy's observation table, with the words of each update run in batches before the table reads them."""

    def update_obs_table(self, s_set: list | None = None, e_set: list | None = None) -> None:
        rows = s_set if s_set else list(self.S) + list(self.s_dot_a())
        suffixes = e_set if e_set else self.E
        incomplete = [s for s in rows if len(self.T.get(s, ())) != len(self.E)]
        self.sul.prefetch(s + e for s in incomplete for e in suffixes)
        super().update_obs_table(s_set, e_set)


_LSTAR_MODULE = importlib.import_module("aalpy.learning_algs.deterministic.LStar")
_PATCH_LOCK = threading.Lock()


def _hypothesis_accepts(hypothesis: Any, word: Letters) -> bool:
    state = hypothesis.initial_state
    for letter in word:
        state = state.transitions[letter]
    return bool(state.is_accepting)


class _BoundedWords(Oracle):  # type: ignore[misc]
    """Equivalence by a fixed list of test words, shortest first: the first the hypothesis gets wrong."""

    def __init__(self, alphabet: list, sul: SUL, answers: _Answers, words: list[Letters]) -> None:
        super().__init__(alphabet, sul)
        self.answers, self.words = answers, words

    def find_cex(self, hypothesis: Any) -> Letters | None:
        self.answers.phase = "equivalence"
        self.answers.ask(self.words)
        self.num_queries += 1
        return next((w for w in self.words if _hypothesis_accepts(hypothesis, w) != self.answers(w)), None)


class _BatchedWMethod(WMethodEqOracle):  # type: ignore[misc]
    """AALpy's W-method with its test words' prefixes run in batches first."""

    def __init__(self, alphabet: list, answers: _Answers, extra_states: int) -> None:
        super().__init__(alphabet, None, max_number_of_states=0)
        self.answers, self.extra_states = answers, extra_states

    def find_cex(self, hypothesis: Any) -> Letters | None:
        self.m = len(hypothesis.states) + self.extra_states
        if not hypothesis.characterization_set:
            hypothesis.characterization_set = hypothesis.compute_characterization_set()
        cover = [s.prefix + (a,) for s in hypothesis.states for a in self.alphabet]
        suite = self.test_suite(cover, self.m + 1 - len(hypothesis.states), hypothesis.characterization_set)
        self.answers.phase = "equivalence"
        self.answers.ask(p for w in suite for p in _prefixes(w))
        return super().find_cex(hypothesis)


def _test_words(alphabet: Sequence[Any], max_length: int, exhaustive_limit: int, random_words: int,
                seed: int) -> tuple[list[Letters], str]:
    rng = random.Random(seed)
    words: list[Letters] = []
    exhaustive_to = -1
    for length in range(max_length + 1):
        if len(alphabet) ** length <= exhaustive_limit:
            words += list(itertools.product(alphabet, repeat=length))
            exhaustive_to = length
        else:
            words += [tuple(rng.choice(alphabet) for _ in range(length)) for _ in range(random_words)]
    bound = f"every word of length 0..{exhaustive_to}"
    if exhaustive_to < max_length:
        bound += f", {random_words} random words of each length {exhaustive_to + 1}..{max_length} (seed {seed})"
    return words, bound


def _reference_dfa(reference: Any) -> DFA | None:
    dfa = getattr(reference, "dfa", reference)  # a LanguageReference's DFA, or the DFA itself
    if dfa is not None and not isinstance(dfa, DFA):
        raise TypeError(f"extract_dfa compares with a DFA of exactformer.languages, got {type(dfa).__name__}")
    return dfa


def extract_dfa(model: Any, alphabet: Sequence[Any] | None = None, *, reference: Any = None, max_length: int = 10,
                exhaustive_limit: int = 4096, random_words: int = 200, equivalence: str = "words",
                extra_states: int = 1, outside_domain: str | bool = "error", seed: int = 0,
                batch_size: int = 1024) -> Extraction:
    """Learn the DFA that ``model`` computes by L*, and compare it with ``reference``.

    Parameters
    ----------
    model
        A construction (its torch float64 answers), a callable of a word returning a ``bool`` or a float logit, a
        torch module, or a :class:`~exactformer.verify.black_box.BlackBox` (see
        :func:`~exactformer.verify.black_box.as_black_box`; a torch module is tokenised as symbol i -> token id i
        of ``alphabet``, or wrap it with :func:`~exactformer.verify.black_box.torch_black_box` first).
    alphabet
        The input symbols (a word is a ``str`` when they are all one-character strings); by default the
        reference's.
    reference
        A DFA of :mod:`exactformer.languages` (or a reference wrapping one) over the same alphabet; ``None`` learns
        without comparing.
    max_length, exhaustive_limit, random_words, seed
        The ``"words"`` equivalence bound: every word of each length whose words number at most
        ``exhaustive_limit``, else ``random_words`` random words of that length, for lengths ``0..max_length``.
    equivalence
        ``"words"`` or ``"w-method"`` (AALpy's W-method, complete up to ``extra_states`` states more than the
        hypothesis).
    outside_domain
        How to answer a word the model refuses with ``InputError``: ``"error"`` (raise), ``"reference"`` or a
        ``bool``.
    batch_size
        Words per batch asked of the model.

    Raises
    ------
    InputError
        On an empty alphabet or one with repeated symbols, a reference over another alphabet, an unknown
        ``equivalence`` or ``outside_domain``, a negative bound, or ``outside_domain="reference"`` without a
        reference.
    BlackBoxError
        If the model raises on a word or returns something that is not a decision.
    """
    ref = _reference_dfa(reference)
    symbols = tuple(alphabet) if alphabet is not None else (ref.ordered_alphabet if ref is not None else ())
    if not symbols or len(set(symbols)) != len(symbols):
        raise InputError(f"extract_dfa needs an alphabet of distinct symbols, got {symbols!r}")
    if ref is not None and set(ref.alphabet) != set(symbols):
        raise InputError(f"the reference's alphabet {sorted(ref.alphabet, key=str)} is not the extraction's "
                         f"{sorted(symbols, key=str)}")
    if equivalence not in ("words", "w-method"):
        raise InputError(f"equivalence must be 'words' or 'w-method', got {equivalence!r}")
    if min(max_length, exhaustive_limit, random_words, extra_states) < 0 or batch_size < 1:
        raise InputError("max_length, exhaustive_limit, random_words and extra_states must be >= 0, batch_size >= 1")
    fill = _fill_rule(outside_domain, ref)
    start = time.perf_counter()
    answers = _Answers(as_black_box(model, symbols, domain_errors=fill is not None), fill, batch_size)
    sul = _ModelSUL(answers)
    eq_oracle: Oracle
    if equivalence == "words":
        words, bound = _test_words(symbols, max_length, exhaustive_limit, random_words, seed)
        eq_oracle = _BoundedWords(list(symbols), sul, answers, words)
    else:
        eq_oracle = _BatchedWMethod(list(symbols), answers, extra_states)
        bound = (f"W-method: exact if the model's minimal DFA has at most {extra_states} state(s) more than the "
                 "learned one")
    with _PATCH_LOCK:  # L* with the batched observation table (run_Lstar builds its table by this module name)
        setattr(_LSTAR_MODULE, "ObservationTable", _BatchedTable)  # noqa: B010 (a module global, set on purpose)
        try:
            hypothesis, info = run_Lstar(list(symbols), sul, eq_oracle, automaton_type="dfa", print_level=0,
                                         return_data=True)
        finally:
            setattr(_LSTAR_MODULE, "ObservationTable", ObservationTable)  # noqa: B010
    learned = dfa_from_aalpy(hypothesis, symbols).minimize(complete=True)
    equivalent = disagreement = model_answer = reference_answer = None
    if ref is not None:
        minimal_ref = ref.minimize(complete=True)
        word = learned.distinguishing_word(minimal_ref)
        equivalent = word is None
        if word is not None:
            disagreement = word
            model_answer = answers(tuple(word))
            reference_answer = ref.accepts(word)
        ref = minimal_ref
    return Extraction(
        model=answers.box.name, alphabet=symbols, learned=learned, reference=ref, equivalent=equivalent,
        disagreement=disagreement, model_answer=model_answer, reference_answer=reference_answer,
        queries=len(answers.cache), membership_queries=answers.asked["membership"],
        equivalence_queries=answers.asked["equivalence"], rounds=int(info["learning_rounds"]), bound=bound,
        outside_domain=tuple(render(w) for w in sorted(answers.outside, key=_shortlex)),
        seconds=time.perf_counter() - start)


def _fill_rule(outside_domain: str | bool, ref: DFA | None) -> Callable[[Letters], bool] | None:
    if outside_domain == "error":
        return None
    if isinstance(outside_domain, bool):
        return lambda word: outside_domain
    if outside_domain == "reference":
        if ref is None:
            raise InputError("outside_domain='reference' needs a reference")
        return lambda word: ref.accepts(render(word))
    raise InputError(f"outside_domain must be 'error', 'reference' or a bool, got {outside_domain!r}")
