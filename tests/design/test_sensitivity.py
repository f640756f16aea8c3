import numpy as np

from biotwin.design import ishigami, ishigami_exact, sobol_indices


def test_ishigami_sobol_indices_match_exact():
    res = sobol_indices(ishigami, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, n=2**14, seed=3)
    s1, st = ishigami_exact()
    assert np.max(np.abs(res.S1 - s1)) < 0.02, (res.S1, s1)
    assert np.max(np.abs(res.ST - st)) < 0.02, (res.ST, st)
    assert res.n_evaluations == 2**14 * 5
