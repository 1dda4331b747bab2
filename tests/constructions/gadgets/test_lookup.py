"""The AND-lookup: a unit is the AND of its 0/1 conditions, and the table's units multiply one-hot monoid elements."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from exactformer.constructions.gadgets.lookup import and_read, product_units
from exactformer.constructions.gadgets.units import delta
from exactformer.languages import named


def _relu(read: dict, x: dict) -> Fraction:
    return max(Fraction(0), sum((Fraction(w) * x.get(c, 0) for c, w in read.items()), Fraction(0)))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_and_read_is_the_and_of_its_conditions(k):
    conditions = [{f"c{m}": 1} for m in range(k - 1)] + [{"f": -1, "one": 1}]  # the last one is a negation
    read = and_read(*conditions, scale=Fraction(3))
    for bits in itertools.product((0, 1), repeat=k):
        x = {f"c{m}": b for m, b in enumerate(bits[:-1])} | {"f": 1 - bits[-1], "one": 1}
        assert _relu(read, x) == 3 * all(bits), bits


def test_product_units_multiply_one_hot_elements():
    monoid = named.tomita(3).transition_monoid()
    table = monoid.table
    units = product_units(table, {"mul": (lambda a, b: and_read({f"L:{a}": 1}, {f"R:{b}": 1}),
                                          lambda a, b, ab: delta(f"R:{ab}", f"R:{b}"))})
    size = len(monoid)
    assert len(units) == size * size and next(iter(units)) == "mul:0*0"
    for a, b in itertools.product(range(size), repeat=2):
        x = {f"L:{a}": 1, f"R:{b}": 1, "one": 1}
        out = dict(x)
        for read, write in units.values():
            fired = _relu(read, x)
            for c, w in write.items():
                out[c] = out.get(c, 0) + w * fired
        assert {c for c, v in out.items() if c.startswith("R:") and v} == {f"R:{int(table[a, b])}"}


def test_product_units_skip_unchanged_pairs_and_check_the_table():
    table = np.array([[0, 1], [1, 0]])
    units = product_units(table, {"m": (lambda a, b: {}, lambda a, b, ab: {})}, skip_unchanged=True)
    assert list(units) == ["m:1*0", "m:1*1"]  # 0 * b = b for both b
    with pytest.raises(ValueError, match="square"):
        product_units(np.zeros((2, 3), dtype=int), {})
