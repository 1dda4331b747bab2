"""The lemmas of Theorem 1 in the paper's architecture, one function each (Merrill & Sabharwal 2025, §3.3 and
App. A, with the project note's §3.4 errata fixed): the blocks of :mod:`.log_depth_paper`'s prefix and level layers.

Storage follows App. A: a scalar z as ``phi(z) = psi(z)/||psi(z)||`` (:mod:`.gadgets.layer_norm_hash`), booleans as
signed blocks ``+-(1, -1)``, monoid elements as balanced one-hots ``e_a - e_{K+a}``. Every block a sublayer reads has
a fixed norm, so a masked LayerNorm read of the blocks ``M`` (total squared norm ``S_M``) is the stored value times
``rho_M = sqrt(d / S_M)``; the weights after a read divide by ``rho_M`` (:func:`_read_scale`: a rational within
1e-40 of the irrational ``sqrt(S_M / d)``). Each ``*_READ`` tuple names the blocks a sublayer's masked pre-norm
reads; the weights of that sublayer are scaled for exactly that read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from ..core.architecture import MLP, Attention, Mask, Norm
from ..core.space import Block, Space
from .gadgets.dfa import MonoidDFA
from .gadgets.heads import HeadAction, chooser_head, copy_actions, heads_attention
from .gadgets.layer_norm_hash import PHI_CELLS, hash_query_key
from .gadgets.lookup import and_read, product_units
from .gadgets.units import unit_mlp

__all__ = [
    "residual_space",
    "position_heads",
    "phi_write",
    "count_heads",
    "half_count_head",
    "difference_mlp",
    "sign_mlp",
    "equality_mlp",
    "quantise_mlp",
    "previous_token_head",
    "clear_mlp",
    "partner_head",
    "combine_mlp",
    "plateau_units",
]

_PHI = PHI_CELLS  # the four cells of psi / phi storage: <z, 1, -z, -1>
_FLAG = ("p", "m")  # a signed boolean: (1, -1) true, (-1, 1) false; also the constant block ONE = (1, -1)
_DIRECTION = ("a1", "ma1", "a2", "ma2")  # a unit direction (a1, a2) stored as <a1, -a1, a2, -a2>

Map = dict[str, dict[str, Fraction]]


@dataclass(frozen=True)
class _Setup(MonoidDFA):
    """What the lemma functions share: the prepared DFA (:class:`~.gadgets.dfa.MonoidDFA`), the space, the options."""

    space: Space
    margin: Fraction | None  # None: the sign test (default); a fraction: the margin test
    partner_key_fix: bool
    activeness_and_fix: bool
    clean_combine: bool = True  # plateau units in the combine (module docstring); False: one ReLU per unit


def residual_space(size: int) -> Space:
    """The residual blocks (d_model = 54 + 8|M|).

    Constant and token flags: ``one``, ``bos``, ``end`` (signed, 2 cells each). Positions (unit phi blocks, 4 cells):
    ``pos = phi(i)``, ``prev = phi(i-1)``; ratio scratch ``rp``, ``rq``, ``rc`` (psi of a ratio). Per level:
    ``A`` = alpha^l and ``E`` = [c_i even] (signed), ``hc = phi(c/2)`` and ``t`` (the hash's answer), the equality
    test's cells ``xa, xb`` and direction ``N``, copies of the previous token ``pa, pe, pd`` and of the partner
    ``qa, qe, qd``; ``D`` the token's block and ``DS`` the ``$`` accumulator (balanced one-hots over the monoid:
    ``+k`` and ``-k`` cells).
    """
    labels = [f"+{k}" for k in range(size)] + [f"-{k}" for k in range(size)]
    flags = [Block(name, _FLAG) for name in ("one", "bos", "end", "A", "E", "pa", "pe", "qa", "qe", "xa", "xb")]
    phis = [Block(name, _PHI) for name in ("pos", "prev", "rp", "rq", "rc", "hc", "t")]
    direction = Block("N", _DIRECTION)
    ones_hot = [Block(name, labels) for name in ("D", "DS", "pd", "qd")]
    return Space.of(*flags, *phis, direction, *ones_hot)


# -- reading through a masked pre-norm -----------------------------------------------------------------------

_SQUARED_NORM = {"one": 2, "bos": 2, "end": 2, "A": 2, "E": 2, "pa": 2, "pe": 2, "qa": 2, "qe": 2, "N": 2,
                 "pos": 1, "prev": 1, "hc": 1, "t": 1, "D": 2, "DS": 2, "pd": 2, "qd": 2}


def _sqrt_ratio(numerator: int, denominator: int) -> Fraction:
    """``sqrt(numerator / denominator)`` as a rational within 1e-40 (50 significant digits): the exact weight that
    stands for an irrational read scale."""
    with mpmath.workdps(60):
        value = mpmath.sqrt(mpmath.mpf(numerator) / denominator)
        return Fraction(mpmath.nstr(value, 50, min_fixed=-100, max_fixed=100))


def _read_scale(space: Space, blocks: Sequence[str]) -> Fraction:
    """``1 / rho`` for a masked LayerNorm read of ``blocks``: ``sqrt(S / d)``, S their total squared norm (every
    read block is balanced, so the mean is 0 and LayerNorm = RMSNorm)."""
    return _sqrt_ratio(sum(_SQUARED_NORM[b] for b in blocks), space.dim)


def _alone_scale(space: Space) -> Fraction:
    """``1 / sqrt(d)``: a ratio block read alone reads as ``sqrt(d) phi``."""
    return _sqrt_ratio(1, space.dim)


def _norm(space: Space, blocks: Sequence[str]) -> Norm:
    coords = tuple(c for b in blocks for c in space.block(b).coordinates)
    return Norm("layernorm", mask=coords)


def _coords(block: str, labels: Sequence[str]) -> list[str]:
    return [f"{block}:{c}" for c in labels]


# -- lemmas ------------------------------------------------------------------------------------------------------


def _uniform_heads(space: Space, values: Sequence[Map], writes: Sequence[Map],
                   extra: Sequence[HeadAction] = ()) -> Attention:
    """Heads with zero queries (uniform causal averages of ``values``: all scores tie, so average-hard attention
    averages every key j <= i) writing ``writes``, plus ``extra`` heads. Every head has 4 query/key cells and as
    many value cells as the widest head (unused ones are zero)."""
    width = max([1] + [len({o for m in h.value.values() for o in m}) for h in extra])
    heads = [HeadAction(value=value, output=write) for value, write in zip(values, writes)] + list(extra)
    return heads_attention(space, heads, 4, width, mask=Mask("causal"))


def _indicator(flag: str, s: Fraction, *, negate: bool = False) -> Map:
    """The value ``[flag]`` (or ``1 - [flag]``) from a read of the signed ``flag`` and ``one``: ``(flag + one)/2``."""
    sign = -1 if negate else 1
    return {f"{flag}:p": {"v:0": sign * s / 2}, "one:p": {"v:0": s / 2}}


def position_heads(setup: _Setup, *, sign: int = 1, write: Sequence[str] = ("rp", "rq")) -> Attention:
    """Lemma 7: heads averaging ``1[j = 0]`` (``1/(i+1)``) and ``1[j >= 1]`` (``i/(i+1)``) over j <= i, written as
    ``rp = psi(i/(i+1), 1/(i+1))`` and ``rq = psi((i-1)/(i+1), 1/(i+1))``. ``sign=-1`` is the deleting copy
    (Lemma 6), restricted to the blocks in ``write``."""
    space = setup.space
    s = _read_scale(space, ("bos", "one"))
    first = _indicator("bos", s)  # 1[j = 0]
    rest = _indicator("bos", s, negate=True)  # 1[j >= 1]
    w0: Map = {"v:0": {}}
    w1: Map = {"v:0": {}}
    if "rp" in write:
        w1["v:0"].update({"rp:z": Fraction(sign), "rp:mz": Fraction(-sign)})
        w0["v:0"].update({"rp:one": Fraction(sign), "rp:mone": Fraction(-sign)})
    if "rq" in write:  # (i - 1)/(i + 1) = i/(i+1) - 1/(i+1)
        w1["v:0"].update({"rq:z": Fraction(sign), "rq:mz": Fraction(-sign)})
        w0["v:0"].update({"rq:z": Fraction(-sign), "rq:mz": Fraction(sign), "rq:one": Fraction(sign),
                          "rq:mone": Fraction(-sign)})
    return _uniform_heads(space, [first, rest], [w0, w1])


def phi_write(setup: _Setup, source: str, target: str) -> MLP:
    """Lemma 4: read the ratio block ``source`` alone (``sqrt(d) phi``) and write the unit block ``phi`` into
    ``target``: ``ReLU(+-x/sqrt d)`` pairs, 8 units."""
    s = _alone_scale(setup.space)
    units: dict[str, tuple[dict[str, Fraction], dict[str, Fraction]]] = {}
    for c in _PHI:
        units[f"{c}+"] = ({f"{source}:{c}": s}, {f"{target}:{c}": Fraction(1)})
        units[f"{c}-"] = ({f"{source}:{c}": -s}, {f"{target}:{c}": Fraction(-1)})
    return unit_mlp(setup.space, units)


COUNT_READ = ("A", "bos", "one")
HASH_READ = ("A", "bos", "one", "hc", "pos")


def count_heads(setup: _Setup, *, sign: int = 1, read: Sequence[str] = COUNT_READ) -> list[tuple[Map, Map]]:
    """Step 5's count: heads averaging ``1[j = 0]`` and ``alpha_j`` give ``1/(i+1)`` and ``c_i/(i+1)``, written as
    ``rc = psi(c_i/(i+1), 2/(i+1))``, which reads as ``phi(c_i / 2)``. Returned as (value, write) actions so that the
    deleting copy (``sign=-1``) can share a sublayer that reads more blocks (``read``)."""
    s = _read_scale(setup.space, read)
    first = _indicator("bos", s)
    active = _indicator("A", s)
    w0: Map = {"v:0": {"rc:one": Fraction(2 * sign), "rc:mone": Fraction(-2 * sign)}}
    if setup.margin is None:  # the sign test queries phi(c/2 + 1/4): (c + 1/2)/(i+1) against 2/(i+1)
        w0["v:0"].update({"rc:z": Fraction(sign, 2), "rc:mz": Fraction(-sign, 2)})
    w1 = {"v:0": {"rc:z": Fraction(sign), "rc:mz": Fraction(-sign)}}
    return [(first, w0), (active, w1)]


def half_count_head(setup: _Setup) -> HeadAction:
    """Lemma 1's first layer for m = 2 on the count: query ``hc = phi(c/2)``, key ``pos = phi(j)`` (the layer-norm
    hash, maximal at j = c/2 when c is even), value ``phi(j)`` written to ``t``."""
    s = _read_scale(setup.space, HASH_READ)
    copied = [(f"pos:{c}", f"t:{c}") for c in _PHI]
    return HeadAction(*hash_query_key("hc", "pos", s), *copy_actions(copied, read_scale=s, write_scale=Fraction(1)))


DIFFERENCE_READ = ("t", "hc", "one")


def difference_mlp(setup: _Setup, *, sign: int = 1) -> MLP:
    """The cell(s) Lemma 8 reads, from ``x = t_z - hc_z`` (the hash's answer ``phi(j*)`` against the query ``hc``),
    each stored as a balanced pair. Sign test: ``xa = x`` (never 0: ``x < 0`` iff c is even). Margin test:
    ``xa = x + tau``, ``xb = tau - x``. ``sign=-1`` is the deleting copy (Lemma 6: the same reads, so it cancels
    exactly), which also deletes ``t`` and ``hc`` (Lemma 5). ``ReLU(v) - ReLU(-v) = v``."""
    s = _read_scale(setup.space, DIFFERENCE_READ)
    tau = setup.margin
    cells = [("xa", {"t:z": s, "hc:z": -s})]
    if tau is not None:
        cells = [("xa", {"t:z": s, "hc:z": -s, "one:p": tau * s}), ("xb", {"t:z": -s, "hc:z": s, "one:p": tau * s})]
    units: dict[str, tuple[dict[str, Fraction], dict[str, Fraction]]] = {}
    for name, read in cells:
        out = {f"{name}:p": Fraction(sign), f"{name}:m": Fraction(-sign)}
        units[f"{name}+"] = (read, out)
        units[f"{name}-"] = ({k: -v for k, v in read.items()}, {k: -v for k, v in out.items()})
    if sign < 0:
        units.update(clear_mlp(setup, ("t", "hc"), DIFFERENCE_READ))
    return unit_mlp(setup.space, units)


def sign_mlp(setup: _Setup) -> MLP:
    """Lemma 8's sign read: ``xa = (x, -x)`` read alone is ``sgn(x) sqrt(d/2) (1, -1)`` whatever ``|x|`` is, so
    ``E = -sgn(x) (1, -1)`` = [c_i even] (the query ``phi(c/2 + 1/4)`` lies a quarter below the key ``c/2`` when c
    is even, and a quarter above ``(c-1)/2 + 1`` when c is odd). Bias-free: ``ReLU(+-x)`` pairs."""
    s = _sqrt_ratio(2, setup.space.dim)  # a read of xa:p is sqrt(d/2) sgn(x)
    units = {
        "x+": ({"xa:p": s}, {"E:p": Fraction(-1), "E:m": Fraction(1)}),
        "x-": ({"xa:p": -s}, {"E:p": Fraction(1), "E:m": Fraction(-1)}),
    }
    return unit_mlp(setup.space, units)


def equality_mlp(setup: _Setup) -> MLP:
    """Lemma 8 with a margin, step 1 (bias-free): a masked pre-norm read of ``(xa, xb)`` alone is their direction
    ``(a1, a2) = (x + tau, tau - x) / ||.||``, whatever the magnitude of x; it is copied to ``N`` (a unit direction,
    so ``N`` always has the same norm and later reads of it have a known scale)."""
    s = _sqrt_ratio(2, setup.space.dim)  # a read of xa:p is sqrt(d/2) a1
    units: dict[str, tuple[dict[str, Fraction], dict[str, Fraction]]] = {}
    for src, dst in (("xa", "a1"), ("xb", "a2")):
        units[f"{dst}+"] = ({f"{src}:p": s}, {f"N:{dst}": Fraction(1), f"N:m{dst}": Fraction(-1)})
        units[f"{dst}-"] = ({f"{src}:p": -s}, {f"N:{dst}": Fraction(-1), f"N:m{dst}": Fraction(1)})
    return unit_mlp(setup.space, units)


QUANTISE_READ = ("N", "one")


def quantise_mlp(setup: _Setup) -> MLP:
    """Lemma 8 with a margin, step 2: ``a1 + a2 = sqrt 2 tau / sqrt(x^2 + tau^2)`` is >= 1 iff ``|x| <= tau`` and
    <= 1/2 iff ``|x| >= sqrt 7 tau``; ``g = ReLU(2(a1 + a2) - 1) - ReLU(2(a1 + a2) - 2)`` is then 1 or 0, and
    ``E = (2 g - 1)(1, -1)`` is the parity flag ``[c_i even]``. ``N`` is deleted."""
    s = _read_scale(setup.space, QUANTISE_READ)
    total = {"N:a1": 2 * s, "N:a2": 2 * s}
    units = {
        "2s-1": ({**total, "one:p": -s}, {"E:p": Fraction(2), "E:m": Fraction(-2)}),
        "2s-2": ({**total, "one:p": -2 * s}, {"E:p": Fraction(-2), "E:m": Fraction(2)}),
        "minus-one": ({"one:p": s}, {"E:p": Fraction(-1), "E:m": Fraction(1)}),
    }
    units.update(clear_mlp(setup, ("N",), QUANTISE_READ))
    return unit_mlp(setup.space, units)


PREVIOUS_READ = ("prev", "pos", "A", "E", "D")


def previous_token_head(setup: _Setup) -> Attention:
    """Step 2: query ``prev = phi(i-1)``, key ``pos = phi(j)``: the hash picks j = i - 1; the value copies
    ``(A, E, D)`` of that token into ``(pa, pe, pd)``."""
    s = _read_scale(setup.space, PREVIOUS_READ)
    copied = [(f"A:{c}", f"pa:{c}") for c in _FLAG] + [(f"E:{c}", f"pe:{c}") for c in _FLAG]
    copied += [(f"D:{c}", f"pd:{c}") for c in _labels(setup)]
    head = HeadAction(*hash_query_key("prev", "pos", s), *copy_actions(copied, read_scale=s, write_scale=Fraction(1)))
    return heads_attention(setup.space, [head], 4, len(copied), mask=Mask("causal"))


def clear_mlp(setup: _Setup, blocks: Sequence[str], read: Sequence[str]) -> dict[str, tuple[dict, dict]]:
    """Lemma 5: delete the stored ``blocks`` (read among ``read``) by writing their negation, ``ReLU(+-x)``."""
    s = _read_scale(setup.space, read)
    units: dict[str, tuple[dict, dict]] = {}
    for b in blocks:
        for c in setup.space.block(b).coordinates:
            units[f"clear:{c}+"] = ({c: s}, {c: Fraction(-1)})
            units[f"clear:{c}-"] = ({c: -s}, {c: Fraction(1)})
    return units


PARTNER_READ = ("one", "pos", "pa", "pd", "pe")


def partner_head(setup: _Setup) -> Attention:
    """Step 3 (partner-key fix) and step 6's head: score ``2 alpha^l_{j-1} + phi(j)_z`` (``pa`` holds
    ``alpha^l_{j-1}`` as +-1; ``phi(j)_z = j/sqrt(2(j^2+1))`` increases with j and stays below 1/sqrt 2), so the
    argmax is the latest j <= i whose predecessor is active. Copies ``(pa, pe, pd)`` of j into ``(qa, qe, qd)``.
    Printed key (``partner_key_fix=False``): ``alpha^l`` of j itself (``A``)."""
    space = setup.space
    read = PARTNER_READ + (() if setup.partner_key_fix else ("A",))
    s = _read_scale(space, read)
    key = "pa" if setup.partner_key_fix else "A"
    labels = _labels(setup)
    copied = [(f"pa:{c}", f"qa:{c}") for c in _FLAG] + [(f"pe:{c}", f"qe:{c}") for c in _FLAG]
    copied += [(f"pd:{c}", f"qd:{c}") for c in labels]
    return chooser_head(space, {"one:p": s}, {f"{key}:p": 2 * s, "pos:z": s}, copied, kind="average_hard",
                        tie_rule="error", read_scale=s, write_scale=Fraction(1))


COMBINE_READ = ("qd", "qa", "qe", "D", "DS", "E", "end", "one", "A", "pa", "pe", "pd")


def combine_mlp(setup: _Setup) -> MLP:
    """Steps 4 and 6, the losers' reset, ``alpha <- alpha AND e`` and the clean-up, in one ReLU layer.

    With ``[x]`` the 0/1 value of a read (``[D = b] = D_{+b}``, ``[flag] = (flag_p + one_p)/2``) and ``e = [E]``
    (``c_i`` even); survivors are ``alpha AND e`` (printed, ``activeness_and_fix=False``: ``e`` alone):

    * survivor unit (a, b): ``ReLU([qd = a] + [D = b] + [A] + [E] - 3)`` writes ``D += e(a b) - e(b)``;
    * loser unit b: ``ReLU([D = b] + [A] - [E] - 1)`` writes ``D += e(1) - e(b)`` (back to the identity, so every
      block keeps its norm);
    * ``$`` unit (a, b): ``ReLU([qd = a] + [DS = b] + [end] + [qa] - [qe] - 3)`` writes ``DS += e(a b) - e(b)``
      (the latest active token before ``$``, ``alpha_{j-1} = 1``, is deactivated: ``e_{j-1} = 0``);
    * ``A <- (2 g - 1)(1, -1)`` with ``g = ReLU([A] + [E] - 1)`` (printed: ``g = [E]``), and ``E, pa, pe, pd, qa,
      qe, qd`` deleted (Lemma 5).
    """
    space = setup.space
    s = _read_scale(space, COMBINE_READ)
    K = setup.size
    one = Fraction(1)
    half = Fraction(1, 2)

    def true(name: str) -> dict[str, Fraction]:  # [flag] = (flag_p + one_p) / 2, a 0/1 value
        return {f"{name}:p": half, "one:p": half}

    def false(name: str) -> dict[str, Fraction]:  # 1 - [flag]
        return {f"{name}:p": -half, "one:p": half}

    def move(block: str, new: int, old: int) -> dict[str, Fraction]:  # the balanced one-hot from e(old) to e(new)
        return {f"{block}:+{new}": one, f"{block}:-{new}": -one, f"{block}:+{old}": -one, f"{block}:-{old}": one}

    def read(*conditions: dict[str, Fraction]) -> dict[str, Fraction]:
        return and_read(*conditions, one="one:p", scale=s)

    survive = [true("A"), true("E")] if setup.activeness_and_fix else [true("E")]  # printed: e alone
    lose = [true("A"), false("E")] if setup.activeness_and_fix else [false("E")]
    units: dict[str, tuple[dict, dict]] = product_units(setup.monoid.table, {
        "mul": (lambda a, b: read({f"qd:+{a}": one}, {f"D:+{b}": one}, *survive),
                lambda a, b, ab: move("D", ab, b)),
        "dol": (lambda a, b: read({f"qd:+{a}": one}, {f"DS:+{b}": one}, true("end"), true("qa"), false("qe")),
                lambda a, b, ab: move("DS", ab, b)),
    }, skip_unchanged=True)  # a * b = b: nothing to write
    for b in range(1, K):  # b = 0 is the identity already
        units[f"lose:{b}"] = (read({f"D:+{b}": one}, *lose), move("D", 0, b))
    units["survives"] = (read(*survive), {"A:p": Fraction(2), "A:m": Fraction(-2)})
    if setup.clean_combine:
        units = plateau_units(units, s)
    units["minus-one"] = ({"one:p": s}, {"A:p": -one, "A:m": one})
    units.update(clear_mlp(setup, ("A", "E", "pa", "pe", "qa", "qe", "pd", "qd"), COMBINE_READ))
    return unit_mlp(space, units)


def plateau_units(units: dict[str, tuple[dict, dict]], s: Fraction) -> dict[str, tuple[dict, dict]]:
    """Each 0/1 unit ``ReLU(y)`` (``y = 1`` when it fires, ``y <= 0`` when not) as the clamp
    ``2 ReLU(y - 1/4) - 2 ReLU(y - 3/4)``.

    Both forms give 0 at ``y <= 0`` and 1 at ``y = 1`` in exact arithmetic. The clamp is flat around both: a read off
    by ``|delta| < 1/4`` (rounding carried in the blocks it reads) writes exactly 0 or 1, up to the rounding of this
    layer alone. The single ReLU passes ``delta`` on: a unit with three of its four conditions true sits at
    ``y = 0`` and leaks ``max(delta, 0)``, a firing unit writes ``1 + delta``, so a block's error is the sum of its
    readers' errors and grows geometrically with the level (measured: x4-5 per level on a 12-element monoid). Through
    the LayerNorm shared with the previous-token head's hash, that error rescales the hash scores (tests: a word of
    length 1024 over a 12-element monoid). ``s`` is the read scale of the layer (``one:p`` reads as ``1/s``).
    """
    out: dict[str, tuple[dict, dict]] = {}
    two = Fraction(2)
    for name, (read, write) in units.items():
        for part, shift, gain in (("rise", Fraction(1, 4), two), ("flat", Fraction(3, 4), -two)):
            shifted = dict(read)
            shifted["one:p"] = shifted.get("one:p", Fraction(0)) - shift * s
            out[f"{name}/{part}"] = (shifted, {k: gain * v for k, v in write.items()})
    return out


def _labels(setup: _Setup) -> list[str]:
    return [f"+{k}" for k in range(setup.size)] + [f"-{k}" for k in range(setup.size)]
