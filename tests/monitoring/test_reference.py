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
