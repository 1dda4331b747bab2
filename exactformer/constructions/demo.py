"""The demo construction: one hard-attention layer that copies the first symbol to the last position.

Proof sketch. Every position carries the constant coordinate ``one = 1``; only position 0 carries
``pos:first = 1``. The head's query reads ``one`` and its key reads ``pos:first``, so the score of key j is
``[j = 0]``: the unique maximum is at j = 0 for every query. The value copies the one-hot symbol block
``symbol:*`` into ``copy:*``; the readout takes the argmax of ``copy:*`` at the last position. Every operation
is rational, so the exact, certified and torch evaluators agree to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.architecture import Attention, Embedding, Layer, Mask, Readout, Sublayer, Transformer
from ..core.claims import Claim, ClaimedResources, constant
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.errors import InputError
from ..core.positions import IndicatorAt
from ..core.sites import Site
from ..core.space import Block, Space, linear_map, vector

__all__ = ["copy_first", "CopyFirstParameters"]


@dataclass(frozen=True)
class CopyFirstParameters:
    """What :func:`copy_first` was built from: its alphabet (the symbols, in the order of the vocabulary)."""

    alphabet: tuple[str, ...]


def _residual_space(alphabet: Sequence[str]) -> Space:
    return Space.of(
        Block("one"),
        Block("symbol", alphabet),
        Block("pos", ["first"]),
        Block("copy", alphabet),
    )


def copy_first(alphabet: Sequence[str] = ("a", "b")) -> Construction:
    """A one-layer model whose answer is the first symbol of the word (read at the last position).

    Parameters
    ----------
    alphabet
        The symbols, each a one-character string.

    Returns
    -------
    Construction
        Input: a non-empty word over ``alphabet``; answer: its first symbol.
    """
    if isinstance(alphabet, (str, list, tuple)):
        alphabet = tuple(alphabet)
    else:
        raise ValueError(f"alphabet must be a string or a sequence of one-character symbols, got "
                         f"{type(alphabet).__name__} {alphabet!r}")
    if not alphabet or any(not isinstance(a, str) or len(a) != 1 for a in alphabet) \
            or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet must be distinct one-character symbols, got {alphabet!r}")
    space = _residual_space(alphabet)
    head = Space.of(Block("h", ["x"]))
    value = Space.of(Block("v", alphabet))

    embedding = Embedding(
        W_E=[vector(space, {"one": 1, f"symbol:{a}": 1}) for a in alphabet],
        vocab=alphabet,
        positional=(("pos:first", IndicatorAt(0)),),
    )
    attend_to_first = Attention(
        W_Q=[linear_map(space, head, {"one": {"h:x": 1}})],
        W_K=[linear_map(space, head, {"pos:first": {"h:x": 1}})],
        W_V=[linear_map(space, value, {f"symbol:{a}": {f"v:{a}": 1} for a in alphabet})],
        W_O=[linear_map(value, space, {f"v:{a}": {f"copy:{a}": 1} for a in alphabet})],
        kind="hard",
        mask=Mask("causal"),
    )
    labels = Space.of(Block("answer", alphabet))
    model = Transformer(
        space=space,
        embedding=embedding,
        layers=(Layer(attention=Sublayer(attend_to_first), name="copy"),),
        readout=Readout(
            W_U=linear_map(space, labels, {f"copy:{a}": {f"answer:{a}": 1} for a in alphabet}),
            labels=alphabet,
            position=-1,
            decision="argmax",
        ),
    )

    def encode(word: str | Sequence[str]) -> list[str]:
        symbols = list(word)
        if not symbols:
            raise InputError("copy_first needs a non-empty word")
        bad = [s for s in symbols if s not in alphabet]
        if bad:
            raise InputError(f"symbol {bad[0]!r} is not in the alphabet {list(alphabet)}")
        return symbols

    def copied_first_symbol(word: str | Sequence[str], length: int) -> list[list[int]]:
        return [[int(word[0] == a) for a in alphabet]]

    return Construction(
        name="demo",
        model=model,
        encode=encode,
        interpret=lambda label: label,
        tokens_for=lambda n: n,
        citation=Citation(
            authors="exactformer",
            title="demo: copy the first token to the last position",
            venue="this library",
            theorem="a one-layer hard-attention lookup",
        ),
        invariants=(
            Invariant(
                name="attention.copies_first_symbol",
                statement="after the attention sublayer, copy:* at the last position is the one-hot first symbol",
                probe=Probe(site=Site.layer(0, "attn"), coordinates=tuple(f"copy:{a}" for a in alphabet),
                            positions=(-1,)),
                expected=copied_first_symbol,
            ),
        ),
        description="One hard-attention head copies the first symbol to the last position (the README demo).",
        claims=ClaimedResources(
            claims=(Claim("layers", "==", constant(1), "1"), Claim("heads", "==", constant(1), "1")),
            attention=("hard",),
        ),
        parameters=CopyFirstParameters(alphabet=tuple(alphabet)),
    )
