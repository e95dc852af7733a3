"""`compare`, the main job, on digits for one epoch: every run and analysis, a figure of every figure module
(tests/test_figures.py draws each figure), the table and the manifest; a second call reuses what is finished
and redoes only what changed."""

import json
import shutil

import pytest

from bioplaus_analysis.choices import FIGURES
from bioplaus_analysis.commands.cli import main
from bioplaus_analysis import CompareOptions, compare
from bioplaus_analysis.commands.compare import stage_line
from trainers import ConfigError
from trainers.store.runfiles import state_digest

SNN_ONLY = ("firing-rates", "spike-raster")  # figures of spiking runs only
RUNS = [f"digits-{model}-{rule}-s0" for model, rules in (("cnn", ("bp", "fa", "dfa", "dkp", "readout")),
                                                          ("snn", ("bp", "dfa", "dkp", "adfa", "readout"))) for rule in rules]
# The figures that draw the panels of the main figures' modules (main-learning: learning's, main-robustness:
# robustness's), a spiking-only one included (drawing every figure takes most of a compare on digits;
# test_figures draws each, and test_every_applicable_figure_is_listed checks the list without drawing it). PCA
# alone embeds the layers (t-SNE, tested in test_embedding, takes most of the analysis here).
DRAWN = ("main-learning", "main-robustness", "weight-alignment", "rdm-grid", "spike-raster")
OPTIONS = CompareOptions(dataset="digits", epochs=1, per_class=10, eps=[0.0, 0.2], pgd_steps=2, only=DRAWN,
                         analysis={"embeddings": ["pca"], "bootstrap": 100})  # stats.csv's draws: test_stats


@pytest.fixture(scope="module", autouse=True)
def _small_pngs():
    """Every PNG of this module at 50 dpi: these tests check which files compare writes, not how they look."""
    from bioplaus_analysis.commands import compare as command
    from bioplaus_analysis.figures import style
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(style, "PNG_DPI", 50)
        patch.setattr(command, "drawing_processes", lambda: 1)  # the patched dpi holds in this process only
        yield


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    logs = []
    done = compare(out, OPTIONS, progress=False, log=logs.append)
    return out, done, logs


def _stamps(out, figures=False):
    return {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.name in ("model.pt", "results.json", "arrays.npz") or (figures and p.suffix in (".pdf", ".png"))}


def test_compare_trains_every_model_and_rule_that_fit(compared):
    out, done, logs = compared
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(RUNS)
    assert [d.name for d in done["runs"]["cnn"]] == RUNS[:5] and [d.name for d in done["runs"]["snn"]] == RUNS[5:]
    assert logs[0] == f"runs: 10 trained, 0 reused from {out / 'runs'}"
    rows = done["table"].read_text().splitlines()[2:]
    assert [row.split(" | ")[1:3] for row in rows] == [r.split("-")[1:3] for r in RUNS]  # rule order, per model
    assert all(" 1 | 1 | " in row for row in rows)  # one epoch, one seed


def test_compare_says_where_its_time_went(compared):
    out, done, _ = compared
    stages = done["stages"]
    assert list(stages) == ["training", "analysis", "drawing", "tables and manifest", "total", "analysis sections"]
    assert {"embeddings", "attacks", "bootstrap", "gradient SNR and cosines"} <= set(stages["analysis sections"])
    assert sum(stages[k] for k in ("training", "analysis", "drawing", "tables and manifest")) <= stages["total"]
    assert json.loads((out / "compare.json").read_text())["seconds"] == stages
    line = stage_line(stages)
    assert line.startswith("compare stage times: training ") and f"; total {stages['total']:.1f} s" in line
    assert "analysis " in line and "(loading " in line and "embeddings " in line and "drawing " in line


def test_every_applicable_figure_is_listed(compared):
    from bioplaus_analysis.figures import applicable, load_analysis
    out, _, _ = compared
    every = [name for name in FIGURES if name != "tsne-grid"]  # no t-SNE asked for
    # the SNN's 2 layers make per-rule paths of 4 points, too few to draw
    assert applicable(load_analysis(out / "analysis" / "snn")) == [name for name in every if name != "paths-per-rule"]
    assert applicable(load_analysis(out / "analysis" / "cnn")) == [name for name in every if name not in SNN_ONLY]


def test_compare_draws_the_figures_with_a_manifest(compared):
    out, done, _ = compared
    expected = {f"{model}-{name}.{ext}" for model in ("cnn", "snn") for name in DRAWN for ext in ("pdf", "png")
                if model == "snn" or name not in SNN_ONLY}
    figures = out / "figures"
    assert {p.name for p in done["figures"]} == expected
    assert {p.name for p in figures.iterdir()} == expected | {"manifest.json", "figures.json", "accuracy.md",
                                                             "accuracy.csv", "captions.json", "captions.md",
                                                             "cnn-stats.csv", "snn-stats.csv", "cnn-cost.csv",
                                                             "snn-cost.csv"}
    assert (figures / "cnn-stats.csv").read_bytes() == (out / "analysis" / "cnn" / "stats.csv").read_bytes()
    assert all((figures / name).stat().st_size > 2000 for name in expected)  # real figures (PNGs at 50 dpi here)
    manifest = json.loads((figures / "manifest.json").read_text())
    assert set(manifest["files"]) == expected
    entry = manifest["files"]["snn-spike-raster.png"]
    assert entry["dataset"] == "digits" and entry["seeds"] == [0] and entry["figure"] == "spike-raster"
    assert entry["version"] and "command" in entry and "commit" in entry
    assert entry["shows"].startswith("The test image, then for each rule")
    assert entry["caption"].startswith("Spike trains caused by one test image")
    assert all(manifest["files"][name]["caption"] for name in expected)  # every figure has its caption


def test_figures_redraw_from_the_analysis_alone(compared, tmp_path):
    out, _, _ = compared
    analysis = shutil.copytree(out / "analysis" / "snn", tmp_path / "analysis")  # no runs next to it
    only = ["spike-raster", "rdm-grid", "main-robustness"]
    assert main(["figures", str(analysis), "--out", str(tmp_path / "figs"), "--prefix", "snn-", "--only",
                 ",".join(only), "--quiet"]) == 0
    redrawn = sorted(p.name for p in (tmp_path / "figs").iterdir() if p.suffix in (".pdf", ".png"))
    assert redrawn == sorted(f"snn-{name}.{ext}" for name in only for ext in ("pdf", "png"))
    for name in redrawn:  # the same bytes as compare drew from the same analysis
        assert (tmp_path / "figs" / name).read_bytes() == (out / "figures" / name).read_bytes(), name


def test_figures_drawn_by_two_processes_equal_those_drawn_in_this_one(compared, tmp_path, monkeypatch):
    """Two spawned processes draw into one folder: the same PDFs as compare drew here (a PDF does not depend on
    the PNG resolution this module patches), and every caption and record kept under the folder lock."""
    from bioplaus_analysis.commands import compare as command
    out = compared[0]
    todo = {"cnn": (out / "analysis" / "cnn", ["weight-alignment"]), "snn": (out / "analysis" / "snn", ["spike-raster"])}
    monkeypatch.setattr(command, "drawing_processes", lambda: 2)
    drawn = command._draw(todo, tmp_path, progress=False)
    assert {model: list(figures) for model, figures in drawn.items()} == {m: names for m, (_, names) in todo.items()}
    stems = ["cnn-weight-alignment", "snn-spike-raster"]
    for stem in stems:
        assert (tmp_path / f"{stem}.pdf").read_bytes() == (out / "figures" / f"{stem}.pdf").read_bytes(), stem
        assert (tmp_path / f"{stem}.png").is_file()
    captions, before = (json.loads((folder / "captions.json").read_text()) for folder in (tmp_path, out / "figures"))
    assert captions == {stem: before[stem] for stem in stems}
    assert set(json.loads((tmp_path / "figures.json").read_text())) == set(stems)


def test_a_second_compare_reuses_finished_runs_and_analyses(compared):
    out, _, _ = compared
    before = _stamps(out, figures=True)
    logs = []
    done = compare(out, OPTIONS, progress=False, log=logs.append)
    assert logs[:5] == [f"runs: 0 trained, 10 reused from {out / 'runs'}",
                        f"analysis of cnn: reused {out / 'analysis' / 'cnn'}",
                        f"analysis of snn: reused {out / 'analysis' / 'snn'}",
                        f"figures of cnn: reused in {out / 'figures'}",
                        f"figures of snn: reused in {out / 'figures'}"]
    assert _stamps(out, figures=True) == before  # no checkpoint, results.json, arrays.npz or figure rewritten
    assert len(done["figures"]) == 2 * (2 * len(DRAWN) - len(set(SNN_ONLY) & set(DRAWN))) and done["stages"]["analysis sections"] == {}


def test_compare_retrains_a_missing_run_and_reanalyses_only_a_changed_one(compared):
    import torch
    out, _, _ = compared
    run = out / "runs" / "digits-snn-dkp-s0"
    checkpoint = (run / "model.pt").read_bytes()
    shutil.rmtree(run)
    (out / "figures" / "cnn-rdm-grid.png").unlink()  # a missing figure file: that figure alone is redrawn
    figures = _stamps(out / "figures", figures=True)
    logs = []
    compare(out, OPTIONS, progress=False, log=logs.append)
    assert logs[:4] == [f"runs: 1 trained, 9 reused from {out / 'runs'}",
                        f"analysis of cnn: reused {out / 'analysis' / 'cnn'}",
                        f"analysis of snn: reused {out / 'analysis' / 'snn'}",  # same seed, same bytes
                        "figures of cnn: rdm-grid redrawn (files missing), the others reused"]
    assert (run / "model.pt").read_bytes() == checkpoint and (out / "figures" / "cnn-rdm-grid.png").is_file()
    redrawn = {p.name for p, stamp in _stamps(out / "figures", figures=True).items() if figures.get(p) != stamp}
    assert redrawn == {"cnn-rdm-grid.pdf", "cnn-rdm-grid.png"}
    state = torch.load(run / "model.pt", weights_only=True)
    state["model"]["blocks.out.0.bias"] += 1.0  # the run changes (retrained, say): its analysis is stale
    state["replica_digests"] = [state_digest(state["model"])]
    torch.save(state, run / "model.pt")
    before = _stamps(out, figures=True)
    logs = []
    compare(out, OPTIONS, progress=False, log=logs.append)
    after = _stamps(out, figures=True)
    assert logs[:4] == [f"runs: 0 trained, 10 reused from {out / 'runs'}",
                        f"analysis of cnn: reused {out / 'analysis' / 'cnn'}",
                        f"analysis of snn: written to {out / 'analysis' / 'snn'}",
                        f"figures of cnn: reused in {out / 'figures'}"]  # the snn's are redrawn
    changed = {str(p) for p in after if before.get(p) != after[p]}
    assert {p for p in changed if p.startswith("analysis")} == {"analysis/snn/results.json", "analysis/snn/arrays.npz"}
    assert {p for p in changed if not p.startswith("analysis")} == {
        str(p.relative_to(out)) for p in (out / "figures").iterdir() if p.name.startswith("snn-")
        and p.suffix in (".pdf", ".png")}


def test_analysis_options_are_checked_before_training(tmp_path):
    from trainers import ConfigError
    with pytest.raises(ConfigError, match="--snr-eps must be a positive number, got -1"):
        CompareOptions(dataset="digits", analysis={"snr_eps": -1}).resolved()
    with pytest.raises(ConfigError, match="compare's analysis options: .*'bogus'"):
        CompareOptions(dataset="digits", analysis={"bogus": 1}).resolved()
    with pytest.raises(ConfigError, match="unknown embedding 'umap'"):
        compare(tmp_path / "out", CompareOptions(dataset="digits", analysis={"embeddings": ["umap"]}), progress=False)
    assert not (tmp_path / "out").exists()


def test_a_figures_folder_of_the_users_is_never_overwritten(tmp_path):
    from trainers import RunDirError
    mine = tmp_path / "paper"
    mine.mkdir()
    (mine / "accuracy.md").write_text("my own table\n")
    with pytest.raises(RunDirError, match=r"--figures .*paper holds files that compare did not write \(accuracy.md\)"):
        compare(tmp_path / "out", OPTIONS, figures_dir=mine, progress=False)
    assert (mine / "accuracy.md").read_text() == "my own table\n" and not (tmp_path / "out").exists()


def test_an_unsorted_eps_grid_is_sorted_once_with_one_warning():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = CompareOptions(dataset="digits", eps=[0.2, 0.0, 0.2]).resolved()
        options.resolved()  # resolving the result again warns no more
    assert options.eps == [0.0, 0.2] and len(caught) == 1 and "sorted and de-duplicated" in str(caught[0].message)


def test_only_the_figures_asked_for_are_drawn_and_listed(compared, tmp_path):
    out = shutil.copytree(compared[0], tmp_path / "out")
    logs = []
    done = compare(out, CompareOptions(**{**OPTIONS.__dict__, "only": ("rdm-grid", "spike-raster")}), progress=False,
                   log=logs.append)
    assert logs[1:3] == [f"analysis of cnn: reused {out / 'analysis' / 'cnn'}",
                         f"analysis of snn: reused {out / 'analysis' / 'snn'}"]
    expected = {"cnn-rdm-grid", "snn-rdm-grid", "snn-spike-raster"}  # the CNN has no spikes to draw
    assert {p.name for p in done["figures"]} == {f"{stem}.{ext}" for stem in expected for ext in ("pdf", "png")}
    manifest = json.loads((out / "figures" / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in done["figures"]}
    with pytest.raises(ConfigError, match="unknown figure 'bogus'"):
        CompareOptions(dataset="digits", only=("bogus",)).resolved()
    assert main(["compare", "--dataset", "digits", "--only", "rdm-grid,bogus", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_the_drawing_code_key_covers_every_figure_module_and_the_style_sheet():
    from bioplaus_analysis.commands.compare import drawing_files
    names = {p.name for p in drawing_files()}
    assert {"__init__.py", "style.py", "main.py", "learning.py", "bioplaus.mplstyle"} <= names
