import numpy as np
import pytest

import biotwin.design.executor as executor_mod
from biotwin.design import Campaign, Executor, design_space, parse_factor, parse_spec


@pytest.fixture(scope="module")
def campaign(control, flask_set):
    return Campaign(control, flask_set, (parse_factor("feed_scale=0.5:2"), parse_factor("harvest_h=240:300")),
                    specs=(parse_spec("mAb >= 400"), parse_spec("Amm_peak <= 6")),
                    quantities=("mAb", "GI"), n_mc=16, seed=5)


def test_results_do_not_depend_on_chunking(campaign):
    x = np.array([[0.5, 240.0], [1.0, 288.0], [2.0, 300.0], [1.5, 260.0]])
    whole = Executor().run(campaign, x, chunk_points=4)
    single = Executor().run(campaign, x, chunk_points=1)
    for k, v in whole.to_arrays().items():
        assert np.array_equal(v, single.to_arrays()[k]), k
    # a point's numbers do not depend on the other points either
    alone = Executor().run(campaign, x[2:3], ids=np.array([2]))
    assert alone.p_spec[0] == whole.p_spec[2] and np.array_equal(alone.mean[0], whole.mean[2])
    assert whole.p_spec.shape == (4,) and whole.p_each.shape == (4, 2) and whole.quantiles.shape == (4, 3, 3)
    assert np.all(whole.p_spec <= whole.p_each.min(axis=1))
    # more feed and a later harvest give more titre on the common draws
    assert whole.column("mAb")[2] > whole.column("mAb")[0]


def test_seed_and_independent_draws(campaign):
    x = np.array([[1.0, 288.0], [1.0, 288.0]])
    common = Executor().run(campaign, x)
    assert np.array_equal(common.mean[0], common.mean[1])
    indep = Executor().run(campaign.with_(common_draws=False), x)
    assert not np.array_equal(indep.mean[0], indep.mean[1])
    again = Executor().run(campaign.with_(common_draws=False), x, chunk_points=1)
    assert np.array_equal(indep.mean, again.mean)
    other = Executor().run(campaign.with_(seed=6), x)
    assert not np.array_equal(other.mean, common.mean)


def test_resume_from_chunk_cache(campaign, tmp_path, monkeypatch):
    ds = design_space(campaign, grid=3, threshold=0.5, cache_dir=tmp_path)
    files = sorted((tmp_path / "chunks").rglob("chunk_*.npz"))
    assert len(files) == 1  # 9 points x 16 draws fit one chunk
    calls = []
    real = executor_mod.evaluate_points

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(executor_mod, "evaluate_points", counting)
    again = design_space(campaign, grid=3, threshold=0.5, cache_dir=tmp_path)
    assert calls == [] and np.array_equal(again.probability, ds.probability)
    # interrupted run: a missing chunk is computed, the others are loaded
    ex = Executor()
    x = ds.points
    r1 = ex.run(campaign, x, cache_dir=tmp_path / "b", chunk_points=3)
    chunks = sorted((tmp_path / "b" / "chunks").rglob("chunk_*.npz"))
    assert len(chunks) == 3
    chunks[1].unlink()
    calls.clear()
    r2 = ex.run(campaign, x, cache_dir=tmp_path / "b", chunk_points=3)
    assert len(calls) == 1 and np.array_equal(r1.p_spec, r2.p_spec)
    assert ds.probability.shape == (3, 3) and 0.0 <= ds.fraction <= 1.0
    assert len(ds.table()) == 9


def test_covariance_uncertainty(control, flask_set):
    from biotwin.design import Covariance, sample_parameters

    m = flask_set.get_model()
    cov = Covariance(("mu_max", "mu_d_max"), np.array([[0.04, 0.03], [0.03, 0.04]]))
    p = sample_parameters(flask_set, m, 4000, np.random.default_rng(0), cov)
    lm = np.log(p[:, [m.parameter_names.index("mu_max"), m.parameter_names.index("mu_d_max")]])
    assert abs(np.corrcoef(lm.T)[0, 1] - 0.75) < 0.05
    assert np.allclose(p[:, m.parameter_names.index("K_glc")], flask_set["K_glc"])
