"""`analyze` and `bioplaus analyze` end to end: files written and re-read, provenance, bad input."""

import json

import numpy as np
import pytest

from bioplaus_analysis import analyze, read_results
from bioplaus_analysis.commands.cli import main
from trainers import ConfigError, RunDirError, TrainConfig, __version__, train


def _analyze(digits_runs, out, names=("cnn-bp", "cnn-dfa", "snn-dfa"), **options):
    options = dict(dict(per_class=6, eval_per_class=10, eps=[0.0, 0.1], pgd_steps=2, progress=False), **options)
    return analyze([digits_runs[n] for n in names], out, **options)


def test_analyze_writes_results_and_arrays(digits_runs, tmp_path):
    out = _analyze(digits_runs, tmp_path / "a")
    results, arrays = read_results(out)
    runs = ["cnn-bp", "cnn-dfa", "snn-dfa"]
    assert list(results["runs"]) == runs
    assert results["runs"]["snn-dfa"]["features"] == "spike count"
    assert results["layers"]["cnn-dfa"] == ["conv1", "conv2", "fc1", "out"]
    assert results["layers"]["snn-dfa"] == ["fc1", "out"]
    n = 6 * 10
    assert arrays["rdm/cnn-dfa"].shape == (4, n, n) and arrays["rdm/labels"].shape == (n, n)
    assert arrays["tsne/snn-dfa/fc1"].shape == (n, 2) and arrays["pca/input"].shape == (n, 2)
    joint = results["paths"]["joint"]["items"]
    assert joint[:2] == ["input", "labels"] and "snn-dfa/fc1" in joint
    assert arrays["paths/joint/coords"].shape == (len(joint), 2)
    assert set(results["snr"]["cnn-dfa"]) == {"conv1", "conv2", "fc1", "out"}
    assert results["cosine"]["cnn-bp"]["analysis"]["conv1"]["mean"] == pytest.approx(1.0, abs=1e-5)
    assert results["cosine"]["cnn-dfa"]["training"]["epoch"] == [1, 2, 3, 4]
    curves = results["robustness"]["curves"]["cnn-dfa"]
    assert set(curves) == {"fgsm", "pgd"} and set(curves["fgsm"]) == {"true", "feedback"}
    assert curves["fgsm"]["true"][0] == results["accuracy"]["cnn-dfa"]
    assert arrays["transfer/pgd"].shape == (1, 3, 3)  # at one ε, `transfer_eps`
    assert results["robustness"]["transfer_eps"][0] in results["robustness"]["eps"][1:]
    assert set(results["adversarial_rdm"]["similarity_to_clean"]["cnn-bp"]) == {"conv1", "conv2", "fc1", "out"}
    assert {run["version"] for run in results["runs"].values()} == {__version__}  # each run's bioplaus version
    provenance = results["provenance"]
    assert provenance["sample"] == {"split": "test", "per_class": 6, "n": n, "seed": 0}
    assert provenance["version"] and provenance["dataset"] == "digits"
    seconds = provenance["seconds"]  # where the analysis's time went, every section once
    assert list(seconds) == ["loading", "features and RDMs", "embeddings", "paths", "gradient SNR and cosines",
                             "learning dynamics", "attacks", "RDMs under attack", "cost", "RSA summary", "bootstrap", "writing",
                             "total"]
    assert all(value >= 0 for value in seconds.values())
    assert sum(v for k, v in seconds.items() if k != "total") <= seconds["total"] + 1e-3
    assert seconds["embeddings"] > 0 and seconds["attacks"] > 0
    np.testing.assert_array_equal(arrays["sample/labels"], np.repeat(np.arange(10), 6))


def test_analysis_is_deterministic_and_never_overwrites(digits_runs, tmp_path):
    names = ("cnn-dfa", "cnn-dkp")
    first = _analyze(digits_runs, tmp_path / "a", names, attacks=["fgsm"])
    before = (first / "results.json").read_bytes()
    with pytest.raises(RunDirError, match="already holds analysis results"):
        _analyze(digits_runs, first, names)
    assert (first / "results.json").read_bytes() == before
    second = _analyze(digits_runs, tmp_path / "b", names, attacks=["fgsm"])
    (a, arrays_a), (b, arrays_b) = read_results(first), read_results(second)
    assert a["snr"] == b["snr"] and a["robustness"] == b["robustness"]
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)


def _copy_run(run, to, **config):
    """A copy of the trained `run` at `to` with `config` entries changed in its config.json."""
    import shutil
    from trainers.store.runfiles import read_config, write_config
    shutil.copytree(run, to)
    write_config(to, dict(read_config(to), **config))
    return to


def test_an_unfinished_run_is_refused_unless_allowed_and_then_recorded(digits_runs, tmp_path):
    cut = _copy_run(digits_runs["cnn-dfa"], tmp_path / "cut", epochs=6)  # stopped after 4 of 6 epochs
    with pytest.raises(RunDirError, match=r"cut is unfinished \(4 of 6 epochs\); continue it with `bioplaus train "
                                          r"\.\.\. --out .*cut --resume`, or analyse it as it is with --allow-unfinished"):
        analyze([digits_runs["cnn-bp"], cut], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    out = analyze([digits_runs["cnn-bp"], cut], tmp_path / "out", per_class=3, eval_per_class=4, eps=[0.0],
                  embeddings=["pca"], allow_unfinished=True, progress=False)
    results, _ = read_results(out)
    assert results["provenance"]["options"]["allow_unfinished"] is True
    assert results["runs"]["cut"]["epochs_done"] == 4 and results["runs"]["cut"]["epochs"] == 6


def test_an_out_folder_with_the_users_files_is_refused(digits_runs, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "stats.csv").write_text("my own statistics\n")
    with pytest.raises(RunDirError, match=r"mine holds files that are not an analysis \(stats.csv\); pass an empty "
                                          r"or new --out, or --force"):
        analyze([digits_runs["cnn-bp"]], out, progress=False)
    assert (out / "stats.csv").read_text() == "my own statistics\n" and [p.name for p in out.iterdir()] == ["stats.csv"]


def test_runs_with_other_probe_images_are_not_compared(digits_runs, tmp_path):
    other = _copy_run(digits_runs["cnn-dfa"], tmp_path / "no-validation", validation=0.0)
    with pytest.raises(ConfigError, match=r"runs differ in validation \(cnn-bp: 0.1, no-validation: 0.0\): their "
                                          r"probe images differ"):
        analyze([digits_runs["cnn-bp"], other], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_runs_from_different_datasets_are_refused(digits_runs, tmp_path, mnist_dir):
    folder, _ = mnist_dir
    config = TrainConfig(dataset="mnist", data_dir=str(folder), epochs=1, model="mlp", model_options={"hidden": "8"})
    other = train(config, tmp_path / "mnist-run", progress=False)
    with pytest.raises(ConfigError, match=r"runs come from different datasets \(cnn-bp: digits, mnist-run: mnist\)"):
        analyze([digits_runs["cnn-bp"], other], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--eps", "0,1.5"], "eps must lie in [0, 1] (pixel units), got 1.5"),
    (["--attack", "cw"], "unknown attack 'cw'; choose one of: fgsm, pgd"),
    (["--modes", "true,grey"], "unknown attack mode 'grey'"),
    (["--rdm-method", "cityblock"], "unknown RDM method 'cityblock'"),
    (["--compare", "dot"], "unknown RDM comparison 'dot'"),
    (["--per-class", "500"], "more than the"),
    (["--eps", "a,b"], "--eps must be comma-separated numbers"),
])
def test_cli_bad_input_is_one_line_exit_2(digits_runs, tmp_path, capsys, extra, message):
    argv = ["analyze", str(digits_runs["cnn-bp"]), "--out", str(tmp_path / "out"), "--quiet", *extra]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "results.json").exists()


def test_cli_missing_run_dir(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "config.json is missing" in capsys.readouterr().err


def test_cli_analyze_writes_results(digits_runs, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["analyze", str(digits_runs["cnn-fa"]), "--out", str(out), "--per-class", "4", "--eval-per-class",
                 "8", "--eps", "0,0.2", "--attack", "fgsm", "--modes", "true,feedback", "--embeddings", "pca",
                 "--rdm-method", "euclidean", "--quiet"])
    assert code == 0 and f"analysis written to {out}" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["provenance"]["options"]["rdm_method"] == "euclidean"
    curve = results["robustness"]["curves"]["cnn-fa"]["fgsm"]
    assert curve["true"][1] <= curve["feedback"][1]
    assert "transfer/fgsm" not in read_results(out)[1]


def test_runs_without_an_input_gradient_are_analysed_but_not_attacked(digits_runs, tmp_path):
    config = TrainConfig(model="snn", rule="dkp", dataset="digits", epochs=1,
                         model_options={"hidden": "32", "time_steps": 6, "encoding": "poisson"})
    poisson = train(config, tmp_path / "snn-poisson", progress=False)
    out = analyze([digits_runs["cnn-dfa"], poisson], tmp_path / "a", per_class=4, eval_per_class=8, eps=[0.0, 0.1],
                  attacks=["fgsm"], progress=False)
    results, arrays = read_results(out)
    assert "has no input gradient" in results["robustness"]["skipped"]["snn-poisson"]
    assert list(results["robustness"]["curves"]) == ["cnn-dfa"] and arrays["transfer/fgsm"].shape == (1, 1, 1)
    assert results["snr"]["snn-poisson"]["fc1"] > 0 and arrays["rdm/snn-poisson"].shape == (2, 40, 40)


def test_an_analysis_cut_by_a_full_disk_leaves_nothing_half_written(digits_runs, tmp_path, monkeypatch):
    import errno
    import bioplaus_analysis.analysis as analysis_module

    def full(out, results, arrays):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "arrays.npz"))
    monkeypatch.setattr(analysis_module, "write_results", full)  # the CSVs are written, then the disk is full
    with pytest.raises(OSError, match="No space left on device"):
        _analyze(digits_runs, tmp_path / "a", names=("cnn-bp",), embeddings=["pca"], eps=[0.0])
    assert list((tmp_path / "a").iterdir()) == []
