import json

from typer.testing import CliRunner

from biotwin.cli import _register, app

_register()
runner = CliRunner()


def test_help_everywhere():
    for args in (["--help"], ["simulate", "--help"], ["validate", "--help"], ["bench", "ensemble", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output


def test_every_command_help_opens_with_one_line_and_wraps_its_paragraphs():
    # the console keeps a help text's line breaks: a docstring wrapped at the source's width came
    # out in the command list and in --help cut mid-sentence ("..., each" / "variable against ...")
    import typer

    def commands(c, path):
        subs = getattr(c, "commands", None)
        if not subs:
            yield " ".join(path), c.help or ""
            return
        for name, sub in subs.items():
            yield from commands(sub, [*path, name])

    found = dict(commands(typer.main.get_command(app), []))
    assert {"demo", "monitor fit", "monitor score", "softsensor fit"} <= set(found)
    broken = {name: text for name, text in found.items()
              if any("\n" in para.strip() for para in text.strip().split("\n\n"))}
    assert not broken
    listing = runner.invoke(app, ["monitor", "--help"]).output
    assert "Fit an MSPC monitor on normal batches" in listing


def test_units_in_brackets_survive_in_every_help():
    # rich markup read "'titre [mg/L]'" as a style tag and printed "'titre '": every bracketed unit
    # or placeholder written in a command's or an option's help must reach the screen
    import re

    import typer

    lost = {}

    def walk(c, path):
        texts = [c.help or ""] + [getattr(p, "help", "") or "" for p in getattr(c, "params", [])]
        wanted = {m for t in texts for m in re.findall(r"\[[^\]\s]*\]", t)}
        if wanted:
            shown = re.sub(r"\s+", " ", runner.invoke(app, [*path, "--help"], terminal_width=200).output)
            if missing := [w for w in wanted if w not in shown]:
                lost[" ".join(path)] = missing
        for name, sub in (getattr(c, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    assert not lost
    assert "'titre [mg/L]'" in re.sub(r"\s+", " ", runner.invoke(app, ["softsensor", "fit", "--help"]).output)


def test_validate_json_contract(flask_dir):
    res = runner.invoke(app, ["validate", "--dataset", str(flask_dir), "--params", "cho_t127_kotidis2019", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dataset"] == "kotidis2019_flask_T127"
    for s in ("Xv", "mAb", "Glc", "Amm", "Gln", "Lac", "Glu", "Asn"):
        assert {"rmse", "r2"} <= set(out["states"][s])
    assert out["states"]["Xv"]["r2"] >= 0.9 and out["states"]["mAb"]["r2"] >= 0.95
    assert abs(out["final_mAb"] / 503.33 - 1) <= 0.1
    assert out["peak_Xv"] > 5e9


def test_simulate_writes_csv_and_plot(tmp_path, flask_dir):
    csv = tmp_path / "traj.csv"
    png = tmp_path / "traj.png"
    res = runner.invoke(app, ["simulate", "--recipe", str(flask_dir), "--out", str(csv), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    frame = pd.read_csv(csv)
    assert "mAb [mg/L]" in frame.columns and frame["time_h"].iloc[-1] == 288.0
    assert png.stat().st_size > 1000


def test_bad_dataset_gives_clear_error(tmp_path):
    res = runner.invoke(app, ["validate", "--dataset", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "nope" in res.output


def test_bench_ensemble_json_contract():
    res = runner.invoke(app, ["bench", "ensemble", "--n", "400", "--n-baseline", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("n", "seconds", "sims_per_s", "baseline", "baseline_sims_per_s", "speedup",
                "max_rel_err_final_mAb"):
        assert key in out
    assert out["n"] == 400 and out["failed"] == 0
    assert out["max_rel_err_final_mAb"] <= 1e-6


def test_multi_value_options_take_several_values_after_one_flag(tmp_path):
    """``--batches FILE...`` / ``--exclude COL ...`` (the batch commands' contract) work through
    the console script, as well as repeated flags."""
    import subprocess
    import sys

    import numpy as np
    import pandas as pd

    from biotwin.cli import expand_multi_values

    assert expand_multi_values(["fit", "--batches", "a", "b", "--exclude", "x", "y", "--out", "m"]) == [
        "fit", "--batches", "a", "--batches", "b", "--exclude", "x", "--exclude", "y", "--out", "m"]
    same = ["fit", "--batches", "a", "--batches", "b"]
    assert expand_multi_values(same) == same
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        t = np.arange(0.0, 20.0, 0.5)
        x = np.exp(0.1 * t) * (1 + 0.02 * rng.standard_normal(t.size))
        f = pd.DataFrame({"time_h": t, "OUR [mM/h]": 2 * x, "feed [L]": 0.1 * t, "X [g/L]": x,
                          "note [-]": rng.standard_normal(t.size)})
        p = tmp_path / f"b{i}.csv"
        f.to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "m.joblib"
    code = ("import sys; from biotwin.cli import main; sys.argv = ['biotwin', *sys.argv[1:]]; main()")
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths,
                        "--exclude", "X [g/L]", "note [-]", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from biotwin.softsensors.persist import sidecar_path

    meta = json.loads(sidecar_path(out).read_text())
    assert len(meta["batches"]) == 6
    assert "X [g/L]" not in meta["variables"] and "note [-]" not in meta["variables"]
    # the false-alarm budget is a user choice; out of range is refused with the option's name
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths,
                        "--exclude", "X [g/L]", "note [-]", "--false-alarm-rate", "0.02", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(sidecar_path(out).read_text())["batch_alpha"] == 0.02
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths,
                        "--false-alarm-rate", "0.7", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and "--false-alarm-rate" in (r.stderr + r.stdout)
    # so is the clock tolerance; a valid one is recorded in the sidecar
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths,
                        "--clock-tolerance", "-1", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and "--clock-tolerance" in (r.stderr + r.stdout)
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths, "--exclude", "X [g/L]",
                        "note [-]", "--clock-tolerance", "0.25", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(sidecar_path(out).read_text())["clock_tolerance_h"] == 0.25
    # the factor margin: 'auto' by default (each family's margin in the sidecar), or a number
    side = json.loads(sidecar_path(out).read_text())
    assert side["factor_margin"] == "auto" and all(v >= 1.0 for v in side["factor_margins"].values())
    r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths, "--exclude", "X [g/L]",
                        "note [-]", "--factor-margin", "1.5", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    side = json.loads(sidecar_path(out).read_text())
    assert side["factor_margin"] == 1.5 and set(side["factor_margins"].values()) == {1.5}
    for bad in ("wide", "0.5"):
        r = subprocess.run([sys.executable, "-c", code, "monitor", "fit", "--batches", *paths,
                            "--factor-margin", bad, "--out", str(out)], capture_output=True, text=True)
        assert r.returncode != 0 and "factor_margin" in (r.stderr + r.stdout).replace("-", "_")


def test_foreign_semicolon_files_with_a_spectrum_through_the_console(tmp_path):
    """Files as another plant may deliver them: ';' separated with decimal commas, headers of
    the form ``Name(Symbol:unit)``, temperature in K, a batch-reference column and a Raman
    spectrum whose 110 channels are named by their wavenumber. Both contract commands run
    through the console script; one prediction per row; the spectrum is monitored as scores."""
    import subprocess
    import sys

    import numpy as np
    import pandas as pd

    from biotwin.monitoring.synthetic import bacillus_campaign

    rng = np.random.default_rng(0)
    nu = np.arange(2400, 200, -20)
    names = {"time_h": "Time (h)", "temp [degC]": "Temperature(T:K)", "DO [%]": "Dissolved oxygen(DO2:%)",
             "feed_rate [L/h]": "Sugar feed rate(Fs:L/h)", "O2_out [%]": "Oxygen in off-gas(O2:%)",
             "protease [U/mL]": "Offline product(P_offline:g/L)", "OD600 [-]": "Offline biomass(X_offline:g/L)",
             "glucose [g/L]": "Substrate(S:g/L)"}
    paths = []
    for i, b in enumerate(bacillus_campaign(7, seed=1)):
        f = b.frame.rename(columns=names)
        f["Temperature(T:K)"] += 273.15
        band = np.exp(-0.5 * ((nu - 1650) / 30) ** 2)
        spec = np.outer(b.truth["protease [U/mL]"].to_numpy() / 1000, band) + rng.normal(0, 0.05, (len(f), nu.size))
        f = pd.concat([f, pd.DataFrame(spec + 1.0, columns=[str(v) for v in nu], index=f.index)], axis=1)
        f["Batch reference(Batch_ref:Batch ref)"] = i + 1
        paths.append(tmp_path / f"b{i}.csv")
        f.iloc[::3].to_csv(paths[-1], sep=";", decimal=",", index=False)
    target, others = "Offline product(P_offline:g/L)", ["Offline biomass(X_offline:g/L)", "Substrate(S:g/L)"]
    code = "import sys; from biotwin.cli import main; sys.argv = ['biotwin', *sys.argv[1:]]; main()"

    def run(*args: str) -> str:
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + r.stdout
        return r.stdout

    train = [str(p) for p in paths[:6]]
    fit = json.loads(run("softsensor", "fit", "--batches", *train, "--target", target, "--exclude", *others,
                         "--out", str(tmp_path / "p.model"), "--json"))
    assert fit["spectra"] == {"spectrum": 110} and target not in fit["variables"]
    # the spectrum's smoothing in time chosen by cross-validation, both recorded
    cv_smooth = fit["spectra_smoothing_cv_rmse"]
    assert set(cv_smooth) == {"local-linear", "ewma"} and fit["spectra_smoothing"] == min(cv_smooth, key=cv_smooth.get)
    out = json.loads(run("softsensor", "predict", "--model", str(tmp_path / "p.model"), "--batch", str(paths[6]),
                         "--json"))
    n = sum(1 for _ in open(paths[6])) - 1
    assert all(len(v) == n for v in out.values()) and np.all(np.isfinite(out["prediction"]))
    meta = json.loads(run("monitor", "fit", "--batches", *train, "--exclude", target, *others,
                          "--out", str(tmp_path / "m.mon"), "--json"))
    assert meta["spectra"]["spectrum"]["channels"] == 110
    assert "Batch reference(Batch_ref:Batch ref)" not in meta["variables"] and "2400" not in meta["variables"]
    res = json.loads(run("monitor", "score", "--monitor", str(tmp_path / "m.mon"), "--batch", str(paths[6]), "--json"))
    assert set(res) == {"first_alarm_h", "alarms"}


def test_spreadsheet_workbooks_give_the_same_soft_sensor_and_monitor_as_csv(tmp_path):
    """A plant's historian export as .xlsx workbooks, one per batch, through the contract commands."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    csv, xlsx = [], []
    for i in range(7):
        t = np.arange(0.0, 24.0, 0.5)
        x = np.exp((0.15 + 0.01 * rng.standard_normal()) * t)
        f = pd.DataFrame({"Process time [min]": 60 * t, "OUR [mM/h]": 2 * x * (1 + 0.02 * rng.standard_normal(t.size)),
                          "base [g]": np.cumsum(0.1 * x), "pH [-]": 7 + 0.01 * rng.standard_normal(t.size),
                          "titre [g/L]": np.where(t % 4 == 0, 0.05 * x * (1 + 0.03 * rng.standard_normal(t.size)),
                                                  np.nan)})
        if i == 6:  # the batch scored: its pH steps away at 12 h
            f["pH [-]"] += np.where(t >= 12, 0.3, 0.0)
        csv.append(str(tmp_path / f"b{i}.csv"))
        xlsx.append(str(tmp_path / f"b{i}.xlsx"))
        f.to_csv(csv[-1], index=False)
        f.to_excel(xlsx[-1], sheet_name=f"batch {i}", index=False)

    def run(*args: str) -> dict:
        res = runner.invoke(app, [*args, "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    def batches(paths: list) -> list:
        return [a for p in paths[:6] for a in ("--batches", p)]

    for files, tag in ((csv, "c"), (xlsx, "x")):
        run("softsensor", "fit", *batches(files), "--target", "titre [g/L]", "--out", str(tmp_path / f"{tag}.model"))
        run("monitor", "fit", *batches(files), "--exclude", "titre [g/L]", "--out", str(tmp_path / f"{tag}.mon"))
    pc = run("softsensor", "predict", "--model", str(tmp_path / "c.model"), "--batch", csv[6])
    px = run("softsensor", "predict", "--model", str(tmp_path / "x.model"), "--batch", xlsx[6])
    assert len(px["prediction"]) == 48 and px["in_domain"] == pc["in_domain"]
    for key in ("time_h", "prediction", "lower", "upper"):  # a CSV's decimal text rounds the last digit
        np.testing.assert_allclose(px[key], pc[key], rtol=1e-9, atol=1e-12)
    sc = run("monitor", "score", "--monitor", str(tmp_path / "c.mon"), "--batch", csv[6])
    sx = run("monitor", "score", "--monitor", str(tmp_path / "x.mon"), "--batch", xlsx[6])
    assert sx["first_alarm_h"] == sc["first_alarm_h"] and sx["first_alarm_h"] >= 12
    assert [(a["time_h"], a["kind"], a["statistic"]) for a in sx["alarms"]] == \
        [(a["time_h"], a["kind"], a["statistic"]) for a in sc["alarms"]]


def test_softsensor_predict_gives_one_entry_per_row_of_the_file_in_its_order(tmp_path):
    """Assays written on rows of their own (sharing a time with an online row), rows out of order
    and a row without a time: the JSON still has one entry per data row of the file."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    paths = []
    for i in range(6):
        t = np.arange(0.0, 24.0, 0.5)
        x = np.exp(0.15 * t) * (1 + 0.02 * rng.standard_normal(t.size))
        online = pd.DataFrame({"time_h": t, "OUR [mM/h]": 2 * x, "base [g]": np.cumsum(0.1 * x)})
        lab = pd.DataFrame({"time_h": t[::8], "titre [g/L]": 0.05 * x[::8]})
        paths.append(tmp_path / f"b{i}.csv")
        pd.concat([online, lab]).sort_values("time_h", kind="stable").to_csv(paths[-1], index=False)
    args = ["softsensor", "fit", "--target", "titre [g/L]", "--out", str(tmp_path / "t.model")]
    for p in paths[:5]:
        args += ["--batches", str(p)]
    assert runner.invoke(app, args).exit_code == 0

    def predict(path) -> dict:
        res = runner.invoke(app, ["softsensor", "predict", "--model", str(tmp_path / "t.model"), "--batch",
                                  str(path), "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    file = pd.read_csv(paths[5])
    out = predict(paths[5])
    assert len(file) == 54 and all(len(v) == 54 for v in out.values())
    np.testing.assert_allclose(out["time_h"], file["time_h"])
    assay = file["titre [g/L]"].notna().to_numpy()
    # an assay row and the online row of its time get the same prediction
    by_time = dict(zip(out["time_h"], out["prediction"], strict=True))
    assert [out["prediction"][k] for k in np.flatnonzero(assay)] == [by_time[t] for t in file["time_h"][assay]]
    # the same rows in another order: the same predictions, in that order
    shuffled = file.sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    out2 = predict(tmp_path / "shuffled.csv")
    np.testing.assert_allclose(out2["time_h"], shuffled["time_h"])
    np.testing.assert_allclose(out2["prediction"], [by_time[t] for t in shuffled["time_h"]])
    # a row without a time keeps its place, with nulls and outside the domain
    file.loc[7, "time_h"] = np.nan
    file.to_csv(tmp_path / "gap.csv", index=False)
    out3 = predict(tmp_path / "gap.csv")
    assert len(out3["prediction"]) == 54
    assert out3["time_h"][7] is None and out3["prediction"][7] is None and out3["in_domain"][7] is False
