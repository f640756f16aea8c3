import pytest

from biotwin.datasets import load_culture
from biotwin.errors import DataError, ModelError
from biotwin.models import get_model
from biotwin.recipes import Event, Recipe, compile_recipe, load_recipe, recipe_from_culture


def test_culture_recipe_holds_every_scheduled_event(cultures_dir):
    for folder in sorted(p for p in cultures_dir.iterdir() if p.is_dir()):
        ds = load_culture(folder)
        rec = recipe_from_culture(ds)
        n_shift = 1 if ds.temperature_shift else 0
        assert len(rec.events) == len(ds.schedule) + n_shift
        fed = sum(e.value for e in rec.events if e.kind == "bolus")
        assert fed == pytest.approx(ds.schedule.loc[ds.schedule.stream != "Fout", "volume_L"].sum())
        assert rec.initial["V"] == ds.working_volume_L


def test_shift_culture_sets_temperature(cultures_dir):
    rec = recipe_from_culture(cultures_dir / "sou2015_bioreactor_T127_shift32")
    shifts = [e for e in rec.events if e.kind == "set"]
    assert shifts == [Event(144.0, "set", "T", 32.0)]


def test_yaml_round_trip(tmp_path, flask_dir):
    rec = recipe_from_culture(flask_dir)
    path = tmp_path / "r.yaml"
    rec.to_yaml(path)
    back = load_recipe(path)
    assert back == rec
    assert load_recipe(flask_dir) == rec


def test_bad_yaml_names_the_field(tmp_path, flask_dir):
    rec = recipe_from_culture(flask_dir)
    data = rec.to_dict()
    data["events"][3]["value"] = "lots"
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match=r"bad.yaml.*events\[3\]\.value"):
        load_recipe(path)


def test_unknown_stream_is_refused(flask_dir):
    rec = recipe_from_culture(flask_dir)
    bad = rec.with_events([*rec.events, Event(10.0, "bolus", "vodka", 0.01)])
    with pytest.raises(ModelError, match="vodka"):
        compile_recipe(bad, get_model("cho_kotidis2019"))


def test_negative_volume_event_is_refused():
    with pytest.raises(ModelError, match="negative"):
        Event(1.0, "bolus", "feed", -0.1)
    assert isinstance(Recipe, type)


def test_bad_measurements_name_line_and_column(tmp_path, flask_dir):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(flask_dir, folder)
    lines = (folder / "measurements.csv").read_text().splitlines()
    cells = lines[4].split(",")
    cells[2] = "n/a?"
    lines[4] = ",".join(cells)
    (folder / "measurements.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 5.*'mAb'"):
        load_culture(folder)
