"""The reproduction grid and table (the runs themselves are the README's table, not a test)."""

import csv

import pytest

from bioplaus_analysis.commands.cli import main
from bioplaus_analysis.commands.accuracy_table import PUBLISHED, table, write_table
from bioplaus_analysis.commands.reproduce import available_datasets, grid
from trainers.data.datasets import system_dataset_folder
from trainers.store.runfiles import save_checkpoint, write_config, write_metrics

from conftest import write_cifar_like, write_mnist_like


def test_grid_is_every_rule_for_every_seed_cnn_everywhere_snn_on_mnist_like_data():
    runs = grid(["fashion-mnist", "cifar10"], seeds=(0, 1, 2))
    assert len(runs) == 3 * (9 + 5 + 9)  # fashion-mnist cnn + snn, cifar10 cnn only
    cifar = {(r.model, r.rule) for r in runs if r.dataset == "cifar10"}
    assert cifar == {("cnn", x) for x in ("bp", "fa", "dfa", "dkp", "usf", "frsf", "brsf", "kp", "readout")}
    assert {r.rule for r in runs if r.model == "snn"} == {"bp", "dfa", "adfa", "dkp", "readout"}
    assert {r.epochs for r in runs if r.model == "cnn"} == {10} and {r.epochs for r in runs if r.model == "snn"} == {15}
    assert [r.seed for r in runs[:23]] == [0] * 23  # seed outermost
    part = grid(["fashion-mnist"], seeds=(0, 1), rules=("bp", "adfa"))
    assert [(r.model, r.rule, r.seed) for r in part] == [("cnn", "bp", 0), ("snn", "bp", 0), ("snn", "adfa", 0),
                                                           ("cnn", "bp", 1), ("snn", "bp", 1), ("snn", "adfa", 1)]


def test_the_gallery_draws_every_rule_the_reproduction_trains():
    """`make figures` reuses the reproduction's runs: its --rules are the grid's rules, no more and no fewer."""
    import re
    from pathlib import Path
    from bioplaus_analysis.commands.reproduce import GRID
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    gallery = re.search(r"^GALLERY_RULES := (.+)$", makefile, re.M).group(1).split(",")
    assert "--rules $(GALLERY_RULES)" in makefile
    assert sorted(gallery) == sorted({rule for rules, _ in GRID.values() for rule in rules})


def test_reproduce_help_names_the_grid_it_trains(capsys):
    """The help text is written from GRID, so a rule added to the grid shows up in it."""
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "CNN x {bp, fa, dfa, dkp, usf, frsf, brsf, kp, readout} (10 epochs)" in text
    assert "SNN 784-1000-10 x {bp, dfa, adfa, dkp, readout} (15 epochs)" in text


@pytest.mark.skipif(not system_dataset_folder("fashion-mnist").is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_mnist_and_cifar10_join_when_their_files_are_there(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    write_cifar_like(tmp_path / "cifar-10-batches-py")
    found = available_datasets(tmp_path)
    assert found["mnist"] == str(tmp_path) and found["cifar10"] == str(tmp_path)
    assert found["fashion-mnist"] is None  # not in tmp_path: Debian's package


def _fake_run(folder, dataset, model, rule, seed, accuracies, epochs=None):
    folder.mkdir(parents=True)
    write_config(folder, {"dataset": dataset, "model": model, "rule": rule, "seed": seed, "lr": 1e-3,
                          "sources": {"lr": "recipe fashion-mnist/cnn/bp"}, "epochs": epochs or len(accuracies)})
    write_metrics(folder, [{"epoch": i + 1, "val_acc": a - 0.01, "test_acc": a} for i, a in enumerate(accuracies)])
    save_checkpoint(folder, {"epoch": len(accuracies), "partial": None})  # each epoch's checkpoint written


def test_table_is_mean_sd_and_best_over_finished_seeds_beside_published(tmp_path, capsys):
    for seed, acc in enumerate((0.90, 0.92, 0.94)):
        _fake_run(tmp_path / f"f-cnn-bp-s{seed}", "fashion-mnist", "cnn", "bp", seed, [0.5, acc])
    _fake_run(tmp_path / "f-cnn-dkp-s0", "fashion-mnist", "cnn", "dkp", 0, [0.5], epochs=10)  # unfinished
    rows = table(tmp_path)
    assert len(rows) == 1
    row = rows[0]
    assert row["n"] == 3 and row["seeds"] == "0 1 2"
    assert row["mean"] == pytest.approx(92.0) and row["sd"] == pytest.approx(2.0) and row["best"] == pytest.approx(94.0)
    assert row["published"] == PUBLISHED[("fashion-mnist", "cnn", "bp")][0]
    csv_path, md_path = write_table(rows, tmp_path)
    with csv_path.open() as handle:
        assert next(csv.DictReader(handle))["mean"] == "92.00"
    assert ("| fashion-mnist | cnn | bp | 0.001 (recipe fashion-mnist/cnn/bp) | 2 | 3 | 91.00 | 92.00 ± 2.00 | 94.00 | "
            "90.80 (BioTorch LeNet) |") in md_path.read_text()
    assert main(["reproduce", "--out", str(tmp_path), "--table-only"]) == 0
    assert "92.00 ± 2.00" in capsys.readouterr().out


def test_reproduce_bad_input(tmp_path, capsys):
    assert main(["reproduce", "--models", "rnn", "--out", str(tmp_path)]) == 2
    assert "unknown model 'rnn' for the reproduction grid; choose one of: cnn, snn" in capsys.readouterr().err
    assert main(["reproduce", "--models", "snn", "--rules", "bp,kp", "--out", str(tmp_path / "new")]) == 2
    assert ("rule 'kp' is not in the reproduction grid of snn; choose from: bp, dfa, adfa, dkp, readout"
            in capsys.readouterr().err)
    assert not (tmp_path / "new").exists()
    assert main(["reproduce", "--table-only", "--out", str(tmp_path / "none")]) == 2
    assert "holds no runs" in capsys.readouterr().err


def test_one_seed_shows_the_mean_alone(tmp_path):
    row = {"dataset": "digits", "model": "cnn", "rule": "bp", "epochs": 1, "seeds": "0", "n": 1, "mean": 90.0,
           "sd": None, "val_mean": float("nan"), "lr": "0.001 (rule default)", "best": 90.0, "published": None,
           "published_source": ""}
    csv_path, md_path = write_table([row], tmp_path)
    assert "| digits | cnn | bp | 0.001 (rule default) | 1 | 1 | — | 90.00 | 90.00 | — |" in md_path.read_text()
    assert "±" not in md_path.read_text().splitlines()[2]
    assert csv_path.read_text().splitlines()[1] == "digits,cnn,bp,1,0,1,90.00,,nan,0.001 (rule default),90.00,,"
