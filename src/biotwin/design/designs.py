"""Experimental designs in coded units: factorial, fractional factorial, Latin hypercube, Sobol.

Every function returns points in the unit cube [0, 1]^d (two-level designs: 0 and 1);
:func:`to_factor_units` maps them onto the factors' ranges.

References: Box G.E.P., Hunter J.S., Hunter W.G. (2005) Statistics for Experimenters, 2nd ed.,
Wiley (fractional factorials and generators); McKay M.D. et al. (1979) Technometrics 21:239
(Latin hypercube); Sobol' I.M. (1967) USSR Comput Math Math Phys 7:86 (Sobol sequences, as
implemented in :mod:`scipy.stats.qmc`).
"""

from __future__ import annotations

import itertools
import re
import string

import numpy as np
from scipy.stats import qmc

from biotwin.design.factors import Factor
from biotwin.errors import DataError

DESIGNS = ("full", "fractional", "lhs", "sobol")


def full_factorial(levels: list[int] | tuple[int, ...]) -> np.ndarray:
    """All combinations of ``levels[i]`` equally spaced levels per factor, shape (prod(levels), d).

    The last factor varies fastest (C order), so ``p.reshape(levels)`` is the grid.

    Examples
    --------
    >>> full_factorial([2, 3]).tolist()
    [[0.0, 0.0], [0.0, 0.5], [0.0, 1.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0]]
    """
    if any(int(n) < 1 for n in levels):
        raise DataError(f"factorial levels must be >= 1, got {list(levels)}")
    axes = [np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5]) for n in levels]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(levels))


def fractional_factorial(generators: str) -> np.ndarray:
    """A two-level 2^(k-p) design from generator words, shape (2^(k-p), k), coded 0/1.

    Parameters
    ----------
    generators : str
        One word per factor (Box, Hunter & Hunter notation): single letters are the base
        factors of a full 2^(k-p) design, longer words their interactions; ``"a b c abc"``
        is the 2^(4-1) design with D = ABC (resolution IV).
    """
    words = generators.lower().split()
    if not words or not all(re.fullmatch(r"-?[a-z]+", w) for w in words):
        raise DataError(f"generators {generators!r}: expected words of letters, e.g. 'a b c abc'")
    base = sorted({w for w in words if len(w.lstrip("-")) == 1}, key=lambda w: w.lstrip("-"))
    letters = [w.lstrip("-") for w in base]
    if letters != list(string.ascii_lowercase[: len(letters)]):
        raise DataError(f"generators {generators!r}: base factors must be a, b, c, ... in order")
    full = 2.0 * full_factorial([2] * len(letters)) - 1.0  # +-1
    cols = []
    for w in words:
        sign = -1.0 if w.startswith("-") else 1.0
        col = np.ones(full.shape[0])
        for ch in w.lstrip("-"):
            if ch not in letters:
                raise DataError(f"generator word {w!r} uses {ch!r}, not a base factor {letters}")
            col = col * full[:, letters.index(ch)]
        cols.append(sign * col)
    return (np.stack(cols, axis=1) + 1.0) / 2.0


def latin_hypercube(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` points of a scrambled Latin hypercube in [0, 1]^d (scipy.stats.qmc)."""
    return qmc.LatinHypercube(d=d, seed=np.random.default_rng(seed)).random(n)


def sobol_sequence(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` points of a scrambled Sobol sequence in [0, 1]^d (``n`` a power of 2 is balanced)."""
    sampler = qmc.Sobol(d=d, scramble=True, seed=np.random.default_rng(seed))
    m = int(np.ceil(np.log2(max(n, 1))))
    return sampler.random_base2(m)[:n] if 2**m == n else sampler.random(n)


def make_design(kind: str, factors: list[Factor] | tuple[Factor, ...], *, levels: int = 3,
                n: int = 64, generators: str | None = None, seed: int = 0) -> np.ndarray:
    """Design points in the factors' units, shape (n_points, n_factors)."""
    d = len(factors)
    if d == 0:
        raise DataError("a design needs at least one --factor")
    if kind == "full":
        unit = full_factorial([levels] * d)
    elif kind == "fractional":
        gens = generators or " ".join(string.ascii_lowercase[:d])
        unit = fractional_factorial(gens)
        if unit.shape[1] != d:
            raise DataError(f"generators {gens!r} define {unit.shape[1]} factors, {d} given")
    elif kind == "lhs":
        unit = latin_hypercube(n, d, seed)
    elif kind == "sobol":
        unit = sobol_sequence(n, d, seed)
    else:
        raise DataError(f"unknown design {kind!r}; expected one of {DESIGNS}")
    return to_factor_units(unit, factors)


def to_factor_units(unit: np.ndarray, factors: list[Factor] | tuple[Factor, ...]) -> np.ndarray:
    """Map points in [0, 1]^d onto the factors' ranges."""
    unit = np.atleast_2d(unit)
    return np.stack([f.scale(unit[:, j]) for j, f in enumerate(factors)], axis=1)
