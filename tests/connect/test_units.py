"""Units: parsing and conversion go through pint."""

from __future__ import annotations

import numpy as np
import pytest

from biotwin import units


def test_split_header():
    assert units.split_header("DO2 [mg/L]") == ("DO2", "mg/L")
    assert units.split_header("pH [-]") == ("pH", "-")
    assert units.split_header("pH") == ("pH", None)


def test_convert_scalars_arrays_offsets_and_scales():
    assert float(units.convert(1.0, "g/L", "mg/L")) == pytest.approx(1000.0)
    np.testing.assert_allclose(units.convert([0.0, 100.0], "degC", "degF"), [32.0, 212.0])
    assert float(units.convert(2.0, "1e6 cells/mL", "cells/L")) == pytest.approx(2e9)
    assert float(units.convert(50.0, "%", "-")) == pytest.approx(0.5)
    assert float(units.convert(90.0, "min", "h")) == pytest.approx(1.5)
    assert np.isnan(units.convert([np.nan], "g/L", "mg/L")).all()


def test_molar_mass_bridges_mass_and_amount():
    mm = units.MOLAR_MASS_G_PER_MOL["Glc"]
    assert float(units.convert(mm, "mg/L", "mM", molar_mass_g_per_mol=mm)) == pytest.approx(1.0)
    with pytest.raises(units.UnitError):
        units.convert(1.0, "g/L", "mM")


@pytest.mark.parametrize("bad", ["blorbs", "mg/", "2", "abc def"])
def test_unknown_units(bad):
    with pytest.raises(units.UnitError):
        units.parse_unit(bad)
