"""The provers: one module per family, each turning a construction's weights into a
:class:`~exactformer.verify.certificate.Certificate`.

A prover reads the weights of the model it is given (never the functions that built them) and checks the lemmas the
family's proof rests on (exhaustively in exact arithmetic over a finite set, or symbolically in n), against the
mathematical object the construction was built from (the Post machine, the DFA, the graph encoding), which it finds
in the construction's ``parameters``. Each module registers its prover with
:func:`~exactformer.verify.certificate.register_prover` when imported; :mod:`exactformer.catalog` imports this
package, so ``ef.verify.prove(construction)`` finds them.

This package is, with the catalog, where constructions, languages and the verifier meet: it imports the
constructions' parameter types and the verifier's certificate types. Neither constructions nor the verifier import
it.
"""

from __future__ import annotations

import importlib

# each family's prover module, imported for its registration (a module that does not exist yet is skipped, so
# that families can land one at a time)
_FAMILIES = ("demo", "post_machine", "parity_first", "log_depth", "log_depth_paper", "pointer_jumping", "connectivity",
             "superposition")

for _family in _FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_family}")
    except ModuleNotFoundError as _err:
        if _err.name != f"{__name__}.{_family}":
            raise
