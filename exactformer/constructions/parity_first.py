"""Chiang & Cholak (ACL 2022): exact two-layer transformers for PARITY and FIRST, with and without layer norm.

David Chiang and Peter Cholak, "Overcoming a Theoretical Limitation of Self-Attention", ACL 2022
(arXiv 2202.12172). Hahn (2020, Lemma 5) shows that changing one input symbol moves the output of a soft-attention
encoder with bounded, length-independent parameters by O(1/n); for a language whose membership flips with one
symbol, the decisions may stay correct but their confidence tends to 1/2, so cross-entropy tends to 1 bit per
string. Chiang & Cholak answer with

1. a two-layer softmax transformer that recognises PARITY (odd number of 1s) with perfect accuracy, and one for
   FIRST (first bit is 1) -- their cross-entropy does go to 1 bit, exactly as Hahn's lemma predicts;
2. post-residual layer normalisation with eps = 0 on a doubled stream ``[x, -x]``, which rescales the vanishing
   answer to ``+-sqrt(d)`` independently of n, so that a constant output scale ``c`` drives cross-entropy to 0;
3. log-length-scaled attention (logits times ln N), which keeps FIRST's single-position attention sharp as n grows.

The weights below are the authors' (repository ``ndnlp/parity``: ``parity_exact.py``, ``parity_exact_layernorm.py``,
``first_exact.py``, ``first_exact_layernorm.py``), written against named coordinates. Their logit scale is PyTorch's
``1/sqrt(d_head)`` with ``d_head = d_model / heads``; the architecture is post-norm (``x <- LN(x + f(x))``) and the
answer is ``z = w . y_CLS``, accepted iff ``z > 0``.

Two deliberate differences from the authors' tensors, both invisible at the readout position:

* Inputs must be non-empty. At n = 0 both no-LN models output exactly ``z = 0`` (rejecting by the tie, which
  happens to be right), and both eps = 0 LN models normalise the zero vector (0/0).
* PARITY's layer-norm "eraser" keeps the bit-token coordinates ``tok:0`` and ``tok:1``. The authors' eraser zeroes
  them too, so every bit position ends as the zero vector and PyTorch's eps = 0 LayerNorm returns NaN there (harmless
  for them, since only CLS is read; exactformer refuses any 0/0). Both coordinates are 0 at CLS, so the answer is
  unchanged. ``parity(layer_norm=True, faithful_eraser=True)`` builds the authors' version.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import torch

from ..core.architecture import NO_NORM, Embedding, Layer, Norm, Sublayer, Transformer
from ..core.batch_encoding import framed_encoder, with_batch
from ..core.claims import Claim, ClaimedResources, constant
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.positions import AlternatingSign, IndexOverLength, IndicatorAt
from ..core.rational import Number, as_fraction
from ..core.sites import Site
from ..core.space import Space
from .gadgets.readout import sign_readout
from .parity_first_layers import (
    BITS,
    CLS,
    Relation,
    SignRelation,
    Stream,
    _bits,
    _softmax_scale,
    cls_to_first_bit_head,
    even_odd_comparison_heads,
    first_one_gate_ffn,
    first_space,
    hat_ffn,
    idle_attention,
    idle_ffn,
    ln_eraser_ffn,
    negation_relations,
    parity_space,
    uniform_counting_attention,
)

__all__ = ["parity", "first", "CITATION", "ParityFirstParameters"]

CITATION_AUTHORS = "David Chiang and Peter Cholak"
CITATION_TITLE = "Overcoming a Theoretical Limitation of Self-Attention"
CITATION_VENUE = "ACL 2022"
ARXIV = "2202.12172"
CITATION = Citation(
    authors=CITATION_AUTHORS,
    title=CITATION_TITLE,
    venue=CITATION_VENUE,
    theorem="exact PARITY and FIRST transformers (weights of the authors' parity_exact*.py / first_exact*.py)",
    arxiv=ARXIV,
)


# ---------------------------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------------------------

_SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")


def _norm(layer_norm: bool, eps: Number) -> Norm:
    return Norm("layernorm", eps=as_fraction(eps)) if layer_norm else NO_NORM


def _check_options(eps: Number, output_scale: Number, big: Number, layer_norm: bool) -> tuple[Fraction, ...]:
    eps, c, big = as_fraction(eps), as_fraction(output_scale), as_fraction(big)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if eps and not layer_norm:
        raise ValueError("eps is the layer-norm epsilon; it needs layer_norm=True")
    if c <= 0:
        raise ValueError(f"output_scale must be > 0, got {c}")
    if big <= 0:
        raise ValueError(f"big (the query scale) must be > 0, got {big}")
    return eps, c, big


def _ln_eraser_invariant(space: Space, erased: tuple[str, ...], kept: str) -> Invariant:
    """The eraser's lemma in the layer-norm models: after layer 2 only ``kept`` is nonzero."""
    return Invariant(
        name="ln.eraser",
        statement=f"after layer 2, every coordinate except {kept} is 0 at every position",
        probe=Probe(site=Site.layer(1, "mlp"), coordinates=erased),
        # the exact 0 as an int, and one row for every position: the float check reads a word's n x |erased|
        # zeros at C speed, where Fractions convert one by one and n fresh rows wake the garbage collector
        # (first-ln at n = 32768: 300,000 entries a word)
        expected=with_batch(lambda word, n_tokens: [[0] * len(erased)] * n_tokens,
                            lambda words, n_tokens: words.new_zeros((len(words), n_tokens, len(erased)),
                                                                    dtype=torch.float64)),
        scale=math.sqrt(len(space.names)),  # post-LN residual: norm sqrt(d), entries up to sqrt(d)
    )


def _layer_norm_statements(space: Space, stream: Stream, sign: Relation, erased: tuple[str, ...],
                           kept: str) -> tuple[tuple[Invariant, ...], tuple[Relation, ...]]:
    """The layer-norm models' proof statements: the eraser's invariant, the answer's sign and the ``[u, -u]`` form
    after every sublayer."""
    return (_ln_eraser_invariant(space, erased, kept),), (sign, *negation_relations(stream, _SITES))


@dataclass(frozen=True)
class ParityFirstParameters:
    """What :func:`parity` or :func:`first` was built with.

    Attributes
    ----------
    layer_norm
        Whether the model is the post-LayerNorm variant on the ``[x, -x]`` stream.
    eps
        The layer-norm epsilon (0 without layer norm).
    output_scale
        c, the readout's scale (the layer-norm models' answer is ``+-c sqrt(10)`` or ``+-c sqrt(6)``).
    big
        b, the query scale of the attention that reads the answer.
    scaled
        Whether the attention logits are multiplied by ``ln N`` (FIRST only; ``False`` for PARITY).
    answer_decay_power
        p such that the answer's magnitude is ``Theta(1/N^p)`` (2 for PARITY, 1 for FIRST, 0 for scaled FIRST with
        ``b / sqrt(d_head) > 1``).
    half_width
        The width of one half of the ``[x, -x]`` stream (the whole stream without layer norm).
    d_head
        The attention heads' width.
    """

    layer_norm: bool
    eps: Fraction
    output_scale: Fraction
    big: Fraction
    scaled: bool
    answer_decay_power: int
    half_width: int
    d_head: int


#: Chiang & Cholak's constructions: two layers of softmax attention.
_CLAIMS = (Claim("layers", "==", constant(2), "2"),)


def _construction(name: str, model: Transformer, encode: Callable[[object], list[str]], theorem: str,
                  invariants: tuple[Invariant, ...], description: str, relations: tuple[Relation, ...], stream: Stream,
                  d_head: int, *, precision: str, scaled: bool, answer_decay_power: int, layer_norm: bool,
                  eps: Fraction, output_scale: Fraction, big: Fraction) -> Construction:
    """A Chiang & Cholak construction: a word of n >= 1 bits is N = n + 1 tokens; the sign readout accepts."""
    return Construction(
        name=name,
        model=model,
        encode=encode,
        interpret=lambda label: bool(label),
        tokens_for=lambda n: n + 1,
        citation=dataclasses.replace(CITATION, theorem=theorem),
        invariants=invariants,
        description=description,
        claims=ClaimedResources(claims=_CLAIMS, attention=("softmax",), precision=precision),
        relations=relations,
        parameters=ParityFirstParameters(layer_norm=layer_norm, eps=eps, output_scale=output_scale, big=big,
                                         scaled=scaled, answer_decay_power=answer_decay_power,
                                         half_width=stream.half, d_head=d_head),
    )


def parity(
    layer_norm: bool = False,
    eps: Number = 0,
    output_scale: Number = 1,
    big: Number = 1,
    *,
    faithful_eraser: bool = False,
) -> Construction:
    """Chiang & Cholak's exact PARITY transformer (``parity_exact.py``; with ``layer_norm``, ``..._layernorm.py``).

    Input: a non-empty word over {0, 1} (a str of '0'/'1' or a sequence of bits), encoded as the bits followed by
    CLS, N = n + 1 tokens; positions ``i/N`` and ``(-1)^i``. Accepts iff the number of 1s is odd, read at CLS.

    Parameters
    ----------
    layer_norm
        Post-residual LayerNorm after all four sublayers on the doubled stream ``[x, -x]`` (d_model 20 instead of
        10), plus the eraser FFN in layer 2.
    eps
        The LayerNorm epsilon (exact rational). With eps = 0, ``z = +-output_scale * sqrt(10)`` for every n;
        any eps > 0 lets cross-entropy climb back to 1 bit once the Theta(1/N^2) answer falls below ~sqrt(eps).
    output_scale
        ``c``: the readout is ``c * answer``; cross-entropy (LN, eps = 0) is ``log2(1 + e^{-c sqrt(10)})``.
    big
        The authors' ``--big`` query scale in layer 2 (default 1, their default).
    faithful_eraser
        Use the authors' eraser verbatim (it also zeroes ``tok:0``/``tok:1``). At eps = 0 every bit position then
        ends as the zero vector and the final LayerNorm divides 0/0 (:class:`NonFiniteError`); kept to show that.

    Returns
    -------
    Construction
        Resources: 2 layers, 2 heads per layer (d_head 5, or 10 with LN), d_model 10 (20), FFN widths 3 and 3
        (3 and 20) -- the authors' ``TransformerEncoderLayer(d, 2, d_ff)`` shapes.
    """
    eps, c, big = _check_options(eps, output_scale, big, layer_norm)
    stream = Stream(parity_space(), doubled=layer_norm)
    space = stream.space
    d_head = stream.half * (2 if layer_norm else 1) // 2  # PyTorch: d_model / nhead
    norm = _norm(layer_norm, eps)

    embedding = Embedding(
        W_E=[stream.embedding_row({f"tok:{t}": 1}) for t in BITS + (CLS,)],
        vocab=BITS + (CLS,),
        positional=stream.positional((("pos:i/N", IndexOverLength()), ("pos:(-1)^i", AlternatingSign()))),
    )
    if layer_norm:
        keep = ("answer",) if faithful_eraser else ("answer", "tok:0", "tok:1")
        layer2_ffn = ln_eraser_ffn(stream, keep)
    else:
        if faithful_eraser:
            raise ValueError("faithful_eraser applies to the layer-norm model only")
        layer2_ffn = idle_ffn(stream, 3)
    layers = (
        Layer(
            attention=Sublayer(uniform_counting_attention(stream, d_head), output_norm=norm),
            mlp=Sublayer(hat_ffn(stream), output_norm=norm),
            name="count and locate",
        ),
        Layer(
            attention=Sublayer(even_odd_comparison_heads(stream, d_head, big), output_norm=norm),
            mlp=Sublayer(layer2_ffn, output_norm=norm),
            name="compare even/odd" + (" and erase" if layer_norm else ""),
        ),
    )
    readout = sign_readout(space, {"answer": c}, position=-1, label="odd")
    model = Transformer(space=space, embedding=embedding, layers=layers, readout=readout)

    def encode(word: object) -> list[str]:
        return _bits(word) + [CLS]

    def counts(word: object, n_tokens: int) -> list[list[Fraction]]:
        k = _bits(word).count("1")
        return [[Fraction(k, n_tokens), Fraction(1, n_tokens)] for _ in range(n_tokens)]

    def counts_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:  # words: [batch, n] bits
        k = words.sum(1, dtype=torch.float64)[:, None, None]
        pair = torch.cat([k, torch.ones_like(k)], dim=2) / n_tokens  # one correctly rounded division, as Fraction
        return pair.expand(-1, n_tokens, -1)

    def hat(word: object, n_tokens: int) -> list[list[Fraction]]:
        k = _bits(word).count("1")
        return [[Fraction(int(i == k), n_tokens)] for i in range(n_tokens)]

    def hat_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
        k = words.sum(1)[:, None]
        at_k = torch.arange(n_tokens, device=words.device)[None, :] == k
        return (at_k.to(torch.float64) / n_tokens)[:, :, None]

    def answer_sign(word: object, n_tokens: int) -> list[list[int]]:
        return [[1 if _bits(word).count("1") % 2 == 1 else -1]]  # k odd

    def answer_sign_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
        odd = words.sum(1) % 2 == 1
        return torch.where(odd, 1.0, -1.0).to(torch.float64)[:, None, None]

    with_batch(encode, framed_encoder(embedding.vocab, BITS, BITS, suffix=(CLS,), min_length=1))

    sign = SignRelation(
        name="answer.sign",
        statement="at CLS after layer 2, the answer coordinate has sign (-1)^(k+1): positive iff k is odd",
        probe=Probe(site=Site.layer(1, "mlp"), coordinates=("answer",), positions=(-1,)),
        expected=with_batch(answer_sign, answer_sign_batch),
    )
    if layer_norm:
        erased = tuple(n for n in space.names if n not in {"answer", "-answer", "tok:0", "-tok:0", "tok:1", "-tok:1"})
        if faithful_eraser:
            erased = tuple(n for n in space.names if n not in {"answer", "-answer"})
        invariants, relations = _layer_norm_statements(space, stream, sign, erased, "the answer (and the bit tokens)")
    else:
        invariants = (
            Invariant(
                name="layer1.counts",
                statement="after layer-1 attention, every position holds count:k/N = k/N and count:1/N = 1/N",
                probe=Probe(site=Site.layer(0, "attn"), coordinates=("count:k/N", "count:1/N")),
                expected=with_batch(counts, counts_batch),
            ),
            Invariant(
                name="layer1.hat",
                statement="after the layer-1 FFN, hat:[i=k]/N = [i = k]/N at every position i",
                probe=Probe(site=Site.layer(0, "mlp"), coordinates=("hat:[i=k]/N",)),
                expected=with_batch(hat, hat_batch),
            ),
        )
        relations = (sign,)

    variant = "parity-ln" if layer_norm else "parity"
    if layer_norm:
        description = (
            f"PARITY with post-LayerNorm (eps={eps}) on the doubled stream [x, -x]: z = +-{c}*sqrt(10) for every n "
            "at eps = 0, so cross-entropy is constant and -> 0 as the output scale grows (Chiang & Cholak 2022)."
        )
        prediction = (
            "eps = 0: exact in real arithmetic for every n; in floats the halves [u, -u] stop cancelling at "
            "~eps_machine, and those residues compete with the Theta(1/N^2) answer before the final LN "
            "(float32 drift from n ~ 3000). eps > 0: correct signs, but CE -> 1 once the answer << sqrt(eps)."
        )
    else:
        description = (
            "PARITY by a two-layer softmax transformer: uniform attention counts k/N, a hat FFN marks position k, and "
            "two heads compare even and odd positions; accuracy 1 but |z| ~ 2 tanh(b)/N^2, so CE -> 1 (Hahn)."
        )
        prediction = (
            "the hat FFN must resolve (k - i)/N to better than 1/N and the answer is Theta(1/N^2): float16 / bfloat16 "
            "lose the hat once their spacing near 1 (2^-10 / 2^-7) is comparable to 1/N"
        )
    theorem = ("exact PARITY transformer" + (" with layer normalisation" if layer_norm else "")
               + " (weights of the authors' parity_exact" + ("_layernorm" if layer_norm else "") + ".py)")
    return _construction(
        variant, model, encode, theorem, invariants, description, relations, stream, d_head,
        precision=prediction, layer_norm=layer_norm, eps=eps, output_scale=c, big=big, scaled=False,
        answer_decay_power=2,
    )


def first(
    layer_norm: bool = False,
    eps: Number = 0,
    scaled: bool = False,
    output_scale: Number = 1,
    big: Number = 1,
) -> Construction:
    """Chiang & Cholak's exact FIRST transformer (``first_exact.py``; with ``layer_norm``, ``..._layernorm.py``).

    Input: a non-empty word over {0, 1}, encoded as CLS followed by the bits (N = n + 1 tokens), position feature
    ``[i = 1]``. Accepts iff the first bit is 1, read at CLS (position 0).

    Parameters
    ----------
    layer_norm
        Post-residual LayerNorm after all four sublayers on ``[x, -x]`` (d_model 12 instead of 6), the bias-free gate
        FFN, and the eraser FFN in layer 2.
    eps
        The LayerNorm epsilon; with eps = 0, ``z = +-output_scale * sqrt(6)`` for every n.
    scaled
        Log-length-scaled attention: every layer's logits ``q.k / sqrt(d_head)`` are multiplied by ln N (natural
        log, N counting CLS), as the authors' ``ScaledTransformerEncoderLayer`` does to the query (whose bias is 0
        here, so the two agree). Then ``a_1 = N^b / (N^b + n)``, b = big / sqrt(d_head).
    output_scale
        ``c``: the readout is ``c * answer``.
    big
        The authors' ``--big`` query scale (default 1).

    Returns
    -------
    Construction
        Resources: 2 layers, 1 head each (d_head 6, or 12 with LN), d_model 6 (12), FFN widths 1 and 1 (1 and 12).
    """
    eps, c, big = _check_options(eps, output_scale, big, layer_norm)
    stream = Stream(first_space(), doubled=layer_norm)
    space = stream.space
    d_head = space.dim  # one head: d_head = d_model
    norm = _norm(layer_norm, eps)

    embedding = Embedding(
        W_E=[stream.embedding_row({f"tok:{t}": 1}) for t in BITS + (CLS,)],
        vocab=BITS + (CLS,),
        positional=stream.positional((("pos:[i=1]", IndicatorAt(1)),)),
    )
    layers = (
        Layer(
            attention=Sublayer(idle_attention(stream, d_head, scale=_softmax_scale(d_head, scaled)), output_norm=norm),
            mlp=Sublayer(first_one_gate_ffn(stream, homogeneous=layer_norm), output_norm=norm),
            name="gate the first bit",
        ),
        Layer(
            attention=Sublayer(cls_to_first_bit_head(stream, d_head, big, scaled), output_norm=norm),
            mlp=Sublayer(ln_eraser_ffn(stream, ("answer",)) if layer_norm else idle_ffn(stream, 1), output_norm=norm),
            name="CLS reads position 1" + (" and erase" if layer_norm else ""),
        ),
    )
    readout = sign_readout(space, {"answer": c}, position=0, label="first_is_1")
    model = Transformer(space=space, embedding=embedding, layers=layers, readout=readout)

    def encode(word: object) -> list[str]:
        return [CLS] + _bits(word)

    def gate(word: object, n_tokens: int) -> list[list[int]]:
        first_is_one = _bits(word)[0] == "1"
        return [[Fraction(int(i == 1 and first_is_one))] for i in range(n_tokens)]

    def gate_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
        at_1 = torch.arange(n_tokens, device=words.device)[None, :] == 1
        return (at_1 & (words[:, :1] == 1)).to(torch.float64)[:, :, None]

    def first_sign(word: object, n_tokens: int) -> list[list[int]]:
        return [[1 if _bits(word)[0] == "1" else -1]]

    def first_sign_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
        return torch.where(words[:, 0] == 1, 1.0, -1.0).to(torch.float64)[:, None, None]

    with_batch(encode, framed_encoder(embedding.vocab, BITS, BITS, prefix=(CLS,), min_length=1))

    sign = SignRelation(
        name="answer.sign",
        statement="at CLS after layer 2, the answer coordinate is positive iff the first bit is 1",
        probe=Probe(site=Site.layer(1, "mlp"), coordinates=("answer",), positions=(0,)),
        expected=with_batch(first_sign, first_sign_batch),
    )
    if layer_norm:
        erased = tuple(n for n in space.names if n not in {"answer", "-answer"})
        invariants, relations = _layer_norm_statements(space, stream, sign, erased, "the answer")
    else:
        invariants = (
            Invariant(
                name="layer1.gate",
                statement="after the layer-1 FFN, gate:[i=1,w_i=1] is 1 at position 1 if w_1 = 1 and 0 elsewhere",
                probe=Probe(site=Site.layer(0, "mlp"), coordinates=("gate:[i=1,w_i=1]",)),
                expected=with_batch(gate, gate_batch),
            ),
        )
        relations = (sign,)

    name = "first" + ("-ln" if layer_norm else "") + ("-scaled" if scaled else "")
    scaled_text = " with logits scaled by ln N" if scaled else ""
    if layer_norm:
        description = (
            f"FIRST with post-LayerNorm (eps={eps}) on [x, -x]{scaled_text}: z = +-{c}*sqrt(6) for every n at "
            "eps = 0 (Chiang & Cholak 2022)."
        )
    else:
        description = (
            f"FIRST by a two-layer softmax transformer{scaled_text}: a gate FFN marks position 1 when w_1 = 1 and CLS "
            "attends to position 1; |z| = a_1/2 = Theta(1/n) unscaled, so CE -> 1 (Hahn)."
        )
    theorem = ("exact FIRST transformer" + (" with layer normalisation" if layer_norm else "")
               + (" and log-length-scaled attention" if scaled else "")
               + " (weights of the authors' first_exact" + ("_layernorm" if layer_norm else "")
               + ".py, layer 2's value in head coordinate 0 instead of 5)")
    return _construction(
        name, model, encode, theorem, invariants, description, relations, stream, d_head,
        precision="the signal is Theta(1/n) (constant with scaling and b > 1): robust in float32; float16 / "
        "bfloat16 lose it when a_1/2 falls below the rounding of the softmax weights",
        layer_norm=layer_norm, eps=eps, scaled=scaled, output_scale=c, big=big,
        answer_decay_power=0 if scaled and big / math.sqrt(d_head) > 1 else 1,
    )
