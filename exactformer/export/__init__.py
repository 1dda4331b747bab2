"""Exports: a plain torch.nn.Module (nnsight-ready), TransformerLens 3.x, and safetensors weights."""

from .target import PINNED_VERSION, ExportError
from .tl_file import ExportInfo, load_hooked_transformer, save_hooked_transformer
from .torch_module import ExactformerModule, to_torch_module
from .transformer_lens import (
    TransformerLensExport,
    export_problems,
    exportable,
    to_hooked_transformer,
    to_transformer_lens,
)

__all__ = [
    "ExactformerModule", "to_torch_module", "ExportError", "TransformerLensExport", "exportable", "export_problems",
    "to_transformer_lens", "to_hooked_transformer", "load_hooked_transformer", "save_hooked_transformer",
    "ExportInfo", "PINNED_VERSION",
]
