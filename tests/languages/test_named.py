"""Named languages against independent characterisations written here (counting, regexes, group products)."""

from __future__ import annotations

import itertools
import re

import pytest

from exactformer.languages import (
    LanguagesError,
    alternating,
    cyclic,
    dyck1,
    first,
    flip_flop,
    modular_count,
    parity,
    symmetric,
    tomita,
    word_problem,
)


def words(alphabet, max_len):
    for n in range(max_len + 1):
        for w in itertools.product(alphabet, repeat=n):
            yield "".join(w)


def runs(w):
    return [(m.group()[0], len(m.group())) for m in re.finditer(r"0+|1+", w)]


def tomita3_anywhere(w):
    """Reject iff some odd maximal 1-run is followed, anywhere later, by an odd maximal 0-run."""
    seen_odd_ones = False
    for sym, n in runs(w):
        if sym == "1" and n % 2:
            seen_odd_ones = True
        if sym == "0" and n % 2 and seen_odd_ones:
            return False
    return True


def tomita3_immediate(w):
    """Reject iff an odd maximal 1-run is immediately followed by an odd maximal 0-run."""
    r = runs(w)
    return not any(a[0] == "1" and a[1] % 2 and b[0] == "0" and b[1] % 2 for a, b in zip(r, r[1:]))


TOMITA = {
    1: lambda w: "0" not in w,
    2: lambda w: w == "10" * (len(w) // 2),
    3: tomita3_anywhere,
    4: lambda w: "000" not in w,
    5: lambda w: w.count("0") % 2 == 0 and w.count("1") % 2 == 0,
    6: lambda w: (w.count("0") - w.count("1")) % 3 == 0,
    7: lambda w: re.fullmatch("0*1*0*1*", w) is not None,
}


def test_parity_and_first():
    for w in words("01", 10):
        assert parity().accepts(w) == (w.count("1") % 2 == 1)
        assert first().accepts(w) == w.startswith("1")


@pytest.mark.parametrize("k", range(1, 8))
def test_tomita_matches_its_definition(k):
    d = tomita(k)
    assert d.is_complete
    for w in words("01", 12):
        assert d.accepts(w) == TOMITA[k](w), (k, w)


def test_tomita_2_convention_accepts_the_empty_word_by_default():
    assert tomita(2).accepts("")
    assert not tomita(2, include_empty=False).accepts("")
    for w in words("01", 10):
        if w:
            assert tomita(2).accepts(w) == tomita(2, include_empty=False).accepts(w)


def test_tomita_3_convention_is_anywhere_later_and_immediate_is_available():
    assert not tomita(3).accepts("100110")  # the shortest disagreement between the two readings
    assert tomita(3, reading="immediate").accepts("100110")
    for w in words("01", 12):
        assert tomita(3, reading="immediate").accepts(w) == tomita3_immediate(w), w
    assert sum(tomita(3).count(n) for n in range(11)) == 652
    assert sum(tomita(3, reading="immediate").count(n) for n in range(11)) == 716


def test_tomita_bad_arguments():
    with pytest.raises(LanguagesError, match="1..7"):
        tomita(8)
    with pytest.raises(LanguagesError, match="reading"):
        tomita(3, reading="later")


@pytest.mark.parametrize(("k", "m"), [(0, 1), (1, 2), (0, 3), (2, 3), (-1, 5), (4, 7)])
def test_modular_count(k, m):
    d = modular_count(k, m)
    for w in words("01", 9):
        assert d.accepts(w) == (w.count("1") % m == k % m)


def test_modular_count_options_and_errors():
    d = modular_count(1, 3, symbol="a", alphabet="abc")
    assert d.accepts("bab") and not d.accepts("aa")
    assert modular_count(1, 2).equivalent(parity())
    with pytest.raises(LanguagesError, match="modulus"):
        modular_count(0, 0)
    with pytest.raises(LanguagesError, match="not in the alphabet"):
        modular_count(0, 2, symbol="x")


def compose(p, q):
    """First p, then q: i -> q[p[i]] (written independently of groups.py)."""
    return tuple(q[i] for i in p)


@pytest.mark.parametrize(("name", "order"), [("A5", 60), ("S5", 120), ("Z3", 3), ("Z7", 7), ("C12", 12)])
def test_word_problem_monoid_sizes_and_products(name, order):
    d = word_problem(name)
    assert len(d) == order
    assert len(d.minimize()) == order  # already minimal
    m = d.transition_monoid()
    assert len(m) == order and m.is_group()
    # generator alphabet: the same group, the same monoid size
    dg = word_problem(name, alphabet="generators")
    assert len(dg.transition_monoid()) == order


@pytest.mark.parametrize("spec", ["A5", "S5", "Z5"])
def test_word_problem_accepts_exactly_the_words_multiplying_to_the_identity(spec):
    from exactformer.languages import group

    g = group(spec)
    symbols = dict(g.alphabet("elements"))
    d = word_problem(spec)
    identity = tuple(range(g.degree))
    import random

    rng = random.Random(0)
    keys = sorted(symbols)
    for _ in range(300):
        w = [rng.choice(keys) for _ in range(rng.randint(0, 8))]
        if rng.random() < 0.5 and w:  # make it a relator: append the inverse of the product
            p = identity
            for a in w:
                p = compose(p, symbols[a])
            inv = tuple(sorted(range(len(p)), key=lambda i: p[i]))
            w.append(next(a for a in keys if symbols[a] == inv))
        p = identity
        for a in w:
            p = compose(p, symbols[a])
        assert d.accepts(w) == (p == identity)


def test_groups_have_the_textbook_orders_and_parities():
    assert [cyclic(m).order for m in (1, 2, 6)] == [1, 2, 6]
    assert [symmetric(n).order for n in (1, 2, 3, 4, 5)] == [1, 2, 6, 24, 120]
    assert [alternating(n).order for n in (3, 4, 5)] == [3, 12, 60]

    def sign(p):
        return (-1) ** sum(p[i] > p[j] for i in range(len(p)) for j in range(i + 1, len(p)))

    assert all(sign(p) == 1 for p in alternating(5).elements)
    assert sum(sign(p) == 1 for p in symmetric(5).elements) == 60


def test_group_errors():
    from exactformer.languages import group

    with pytest.raises(LanguagesError, match="unknown group"):
        group("Q8")
    with pytest.raises(LanguagesError, match="not a permutation"):
        from exactformer.languages import PermutationGroup

        PermutationGroup("bad", 3, ((0, 0, 1),))
    with pytest.raises(LanguagesError, match="'elements' or 'generators'"):
        word_problem("Z3", alphabet="letters")


def dyck_ok(w, depth):
    d = 0
    for c in w:
        d += 1 if c == "(" else -1
        if d < 0 or d > depth:
            return False
    return d == 0


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_dyck1_bounded_depth(depth):
    d = dyck1(depth)
    for w in words("()", 10):
        assert d.accepts(w) == dyck_ok(w, depth), w


def test_dyck1_errors():
    with pytest.raises(LanguagesError):
        dyck1(-1)
    with pytest.raises(LanguagesError):
        dyck1(2, brackets=("(", "("))


def flip_flop_ok(w):
    if len(w) % 2:
        return False
    stored = None
    for s, b in zip(w[::2], w[1::2]):
        if s not in "wri" or b not in "01":
            return False
        if s == "w":
            stored = b
        elif s == "r" and b != stored:
            return False
    return True


def test_flip_flop():
    d = flip_flop()
    for w in words("wri01", 6):
        assert d.accepts(w) == flip_flop_ok(w), w
    assert d.accepts("w1i0r1w0r0") and not d.accepts("w1i0r0") and not d.accepts("r0")
