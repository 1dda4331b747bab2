"""The one transformer every construction runs on: named spaces, exact weights, three evaluators, runners."""

from .architecture import (
    MLP,
    NO_NORM,
    Attention,
    Embedding,
    Layer,
    Loop,
    Mask,
    Norm,
    Readout,
    RelativeBias,
    RepeatCount,
    Scale,
    Sublayer,
    Transformer,
)
from .arith import Arithmetic, CertifiedArithmetic, Decision, ExactArithmetic, TorchArithmetic, Trace, arithmetic_for
from .construction import Citation, Construction, Invariant, Probe, Resources, RunResult, model_weights
from .errors import (
    AttentionTieError,
    ExactformerError,
    InputError,
    IrrationalOperation,
    ModelFormatError,
    NonFiniteError,
    ReadoutTieError,
)
from .forward import forward
from .positions import (
    AlternatingSign,
    Index,
    IndexOverLength,
    IndicatorAt,
    PositionalFeature,
    ScaledFeature,
    Sinusoid,
)
from .rational import as_fraction, rational_array, rational_zeros, to_float_array
from .runners import Decoded, Output, Thoughts, classify, decode, think
from .serialize import load_model, save_model
from .space import Block, Space, SpaceError, linear_map, vector
from .sparse import SparseRationalMatrix

__all__ = [name for name in dir() if not name.startswith("_")]
