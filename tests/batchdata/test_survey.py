"""How batch files read before a fit: ``biotwin inspect``."""

import json

import numpy as np
import pandas as pd
import pytest

from biotwin.batchdata.survey import survey
from biotwin.cli import _register, app
from biotwin.errors import DataError


def _files(tmp_path):
    paths = []
    for k in range(3):
        t = np.arange(0, 12 + k, 0.25)
        f = pd.DataFrame({"Process time [min]": 60 * t, "pH [-]": 7 + 0.01 * np.sin(t + k), "Lot": 100 + k,
                          "Agitation [rpm]": 300.0, "phase": np.where(t < 4, "batch", "fed"),
                          "titre [g/L]": np.where(t % 4 == 0, 0.1 * t, np.nan)})
        if k == 2:
            f["Extra probe [-]"] = 1.0 + t
            f["pH [-]"] = f["pH [-]"].astype(object)
            f.loc[5, "pH [-]"] = "Bad"  # a historian's digital state
        paths.append(tmp_path / f"B{k}.csv")
        f.to_csv(paths[-1])  # with pandas' row labels
    return paths


def test_survey_says_how_each_file_reads_and_why_columns_are_left_out(tmp_path):
    res = survey(_files(tmp_path), exclude=["titre [g/L]"])
    b0, b2 = res["batches"][0], res["batches"][2]
    assert b0["id"] == "B0" and b0["time_column"] == "Process time [min]" and b0["time_read_as"] == "numbers in min"
    assert b0["rows_in_file"] == b0["rows"] == 48 and b0["end_h"] == pytest.approx(11.75)
    assert b0["interval_h"] == pytest.approx(0.25) and b0["text_columns"] == ["phase"] and b0["units_row"] is None
    assert any("'pH [-]' holds 1 non-numeric" in w for w in b2["warnings"]) and not b0["warnings"]
    assert res["inputs"] == ["pH [-]"]
    assert res["left_out"] == {"excluded": ["titre [g/L]"], "not_in_every_batch": ["Extra probe [-]"],
                               "constant_or_empty": ["Agitation [rpm]"], "batch_identifier": ["Lot"],
                               "row_number": ["Unnamed: 0"]}
    assert any("Extra probe" in w for w in res["warnings"])
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        survey([tmp_path / "nope.csv"])


def test_inspect_command_text_and_json(tmp_path):
    from typer.testing import CliRunner

    _register()
    paths = _files(tmp_path)
    args = ["inspect", "--exclude", "titre [g/L]"] + [a for p in paths for a in ("--batches", str(p))]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inputs"] == ["pH [-]"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert ("B0: 48 rows (48 times), 0-11.75 h every 15 min; time from 'Process time [min]' (numbers in min)"
            in res.output)
    assert "left out, batch identifier (1): Lot" in res.output
