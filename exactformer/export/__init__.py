"""Exports: a plain torch.nn.Module (nnsight-ready), TransformerLens 3.x, and safetensors weights."""

from .torch_module import ExactformerModule, to_torch_module
from .transformer_lens import ExportError, TransformerLensExport, exportable, to_transformer_lens

__all__ = [
    "ExactformerModule", "to_torch_module", "ExportError", "TransformerLensExport", "exportable", "to_transformer_lens",
]
