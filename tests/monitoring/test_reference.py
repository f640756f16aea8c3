"""The monitor's reference model: rows the boosted redundancy models see."""

import numpy as np


def test_thinned_rows_are_the_same_culture_times_for_any_number_of_batches():
    from biotwin.monitoring.reference import thinned

    # a fold of 24 batches and the final model on 30 see every 2nd row of each batch (not every
    # row, nor rows thinned over the stacked batches, which fall at other times in each)
    fold, final = thinned([1000] * 24, 15000), thinned([1000] * 30, 15000)
    assert np.array_equal(fold.reshape(24, 1000)[0], final.reshape(30, 1000)[0])
    assert np.flatnonzero(final[:1000]).tolist()[:3] == [0, 2, 4]
    assert final.sum() == 15000
    assert thinned([80, 120], 15000).all()  # small batches: every row
    assert len(thinned([80, 120], 15000)) == 200


def test_the_evolution_model_statistic_is_the_sum_of_its_feature_shares_and_zero_on_the_reference():
    import pandas as pd

    from biotwin.monitoring.reference import ReferenceModel

    rng = np.random.default_rng(0)
    t = np.arange(0.0, 40.0, 0.5)
    feats = []
    for _ in range(12):
        g = rng.uniform(0.9, 1.1)
        feats.append(pd.DataFrame({"time_h": t, "x [-]": g * t + rng.normal(0, 0.3, len(t)),
                                   "y [-]": np.sqrt(t) * g + rng.normal(0, 0.05, len(t)),
                                   "z [-]": rng.normal(0, 1.0, len(t))}))
    names = ["x [-]", "y [-]", "z [-]"]
    core = ReferenceModel(40, 0.9, 1e-4, mpls=2).fit(feats, names, [0, 1, 2])
    # the first latent variable follows the evolution (x and y grow with time), not the noise (z)
    assert abs(core.evo_R[2, 0]) < 0.2 * min(abs(core.evo_R[0, 0]), abs(core.evo_R[1, 0]))
    stat, shares = core.evolution(feats[0], names)
    np.testing.assert_allclose(shares.sum(axis=1), stat, rtol=1e-9, atol=1e-12)
    # a batch on the reference trajectory scores 0; one running ahead scores high, through x and y
    ref = pd.DataFrame({"time_h": t, **{n: np.interp(t, core.grid, core.mean[:, j]) for j, n in enumerate(names)}})
    assert np.max(core.evolution(ref, names)[0]) < 1e-9
    ahead = ref.assign(**{"x [-]": ref["x [-]"] * 1.5, "y [-]": ref["y [-]"] * 1.5})
    s, sh = core.evolution(ahead, names)
    assert np.median(s[t > 10]) > 9.0 and np.all(np.abs(sh[t > 10, 2]) < 1e-9)
