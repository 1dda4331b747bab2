"""Exports: a plain torch.nn.Module (nnsight-ready) and TransformerLens-named weights."""

from .torch_module import ExactformerModule, to_torch_module

__all__ = ["ExactformerModule", "to_torch_module"]
