import pandas as pd
import pytest

from biotwin.connect.imports import import_cultures
from biotwin.datasets import load_culture
from biotwin.errors import DataError
from biotwin.lake import Lake
from biotwin.recipes import recipe_from_culture
from biotwin.service.cultures import culture_from_lake


def test_cultures_round_trip_through_the_lake(tmp_path, cultures_dir):
    lake = Lake(tmp_path / "lake")
    import_cultures(lake, cultures_dir)
    assert len(lake.batches()) == 6
    for b in lake.batches():
        from_lake = culture_from_lake(lake, b["batch_id"])
        from_file = load_culture(cultures_dir / b["batch_id"])
        cols = list(from_file.measurements.columns)
        pd.testing.assert_frame_equal(from_lake.measurements[cols], from_file.measurements, check_dtype=False)
        assert recipe_from_culture(from_lake) == recipe_from_culture(from_file)


def test_unknown_batch_is_named(tmp_path):
    with pytest.raises(DataError, match="nope"):
        culture_from_lake(Lake(tmp_path / "lake"), "nope")
