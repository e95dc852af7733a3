"""The bad-input matrix: every case gives one line naming the problem and the fix, exit status 2 on
the CLI, a specific BioplausError subclass from the Python API, no traceback, and leaves every file
that existed before byte-for-byte intact."""

import shutil

import numpy as np
import pytest

from bioplaus_analysis.commands.cli import build_parser, main
from trainers import ConfigError, DataError, DivergenceError, RunDirError, TrainConfig, train

from conftest import write_idx, write_mnist_like

KEEP = ["--model", "cnn", "--rule", "bp", "--dataset", "digits", "--epochs", "4", "--seed", "0"]  # as the run in keep


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A finished run on a tiny MNIST (IDX files written by the test), another dataset than digits."""
    root = tmp_path_factory.mktemp("mnist")
    write_mnist_like(root / "data")
    config = TrainConfig(model="mlp", dataset="mnist", data_dir=str(root / "data"), epochs=1,
                         model_options={"hidden": "8"})
    return train(config, root / "mnist-run", progress=False)


@pytest.fixture(scope="module")
def digits_analysis(digits_runs, tmp_path_factory):
    """A small complete analysis folder to draw from."""
    from bioplaus_analysis import analyze
    return analyze([digits_runs["cnn-bp"]], tmp_path_factory.mktemp("analysis") / "a", per_class=2,
                   eval_per_class=2, eps=[0.0], pgd_steps=1, embeddings=["pca"], progress=False)


@pytest.fixture
def world(tmp_path, digits_runs, mnist_run, digits_analysis):
    """Files a user already has: a finished run, copies of it with a broken checkpoint, an analysis
    folder, and dataset folders with one bad file each. Returns {placeholder: path}."""
    keep = shutil.copytree(digits_runs["cnn-bp"], tmp_path / "keep")
    truncated = shutil.copytree(keep, tmp_path / "truncated")
    (truncated / "model.pt").write_bytes((keep / "model.pt").read_bytes()[:1000])
    foreign = shutil.copytree(keep, tmp_path / "foreign")
    import torch
    torch.save({"weights": torch.zeros(3)}, foreign / "model.pt")
    mismatched = shutil.copytree(keep, tmp_path / "mismatched")
    shutil.copy(mnist_run / "model.pt", mismatched / "model.pt")  # a bioplaus checkpoint of another model
    other_runs = tmp_path / "other-runs"
    shutil.copytree(keep, other_runs / "digits-cnn-bp-s0")  # 4 epochs where compare expects 1
    old_format = shutil.copytree(keep, tmp_path / "old-format")
    state = torch.load(keep / "model.pt", weights_only=True)
    torch.save(dict(state, format="bioplaus-checkpoint-0"), old_format / "model.pt")
    real = shutil.copytree(digits_analysis, tmp_path / "analysis-real")
    no_config = shutil.copytree(keep, tmp_path / "no-config")
    (no_config / "config.json").unlink()
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    (analysis / "results.json").write_text('{"format": "bioplaus-analysis-1"}\n')
    data = {}
    for name in ("missing", "empty", "corrupt", "shape", "labels"):
        folder = tmp_path / f"data-{name}"
        if name == "missing":
            folder.mkdir()
        else:
            write_mnist_like(folder)
        data[name] = folder
    (data["empty"] / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (data["corrupt"] / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    write_idx(data["shape"] / "train-images-idx3-ubyte.gz", np.zeros((20, 27, 27), np.uint8))
    write_idx(data["labels"] / "train-labels-idx1-ubyte.gz", (np.arange(20) % 13).astype(np.uint8))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    paths = {"keep": keep, "truncated": truncated, "foreign": foreign, "mismatched": mismatched,
             "no-config": no_config, "other-runs": other_runs, "analysis": analysis, "mnist-run": mnist_run,
             "a-file": a_file, "old-format": old_format, "analysis-real": real,
             "under-a-file": a_file / "run", "new": tmp_path / "new"}
    paths.update({f"data-{k}": v for k, v in data.items()})
    return paths


CASES = [  # (id, argv with {placeholders}, exception class, message)
    ("unknown-model", ["train", "--model", "vgg", "--out", "{new}"], ConfigError,
     "unknown model 'vgg'; choose one of: cnn, csnn, mlp, package.module:function, resnet, snn"),
    ("unknown-rule", ["train", "--rule", "hebb", "--out", "{new}"], ConfigError,
     "unknown rule 'hebb'; choose one of: adfa, bp, brsf, dfa, dkp, fa, frsf, kp, readout, usf"),
    ("unknown-dataset", ["train", "--dataset", "imagenet", "--out", "{new}"], ConfigError,
     "unknown dataset 'imagenet'; choose one of: cifar10, digits, fashion-mnist, mnist, mnist-5k"),
    ("unknown-encoding", ["train", "--model", "snn", "--encoding", "morse", "--out", "{new}"], ConfigError,
     "unknown encoding 'morse'; choose one of: direct, latency, poisson"),
    ("unknown-neuron", ["train", "--model", "snn", "--neuron", "hh", "--out", "{new}"], ConfigError,
     "unknown neuron 'hh'; choose one of: fast, zhang2024"),
    ("deep-cnn-on-8x8", ["train", "--dataset", "digits", "--model", "cnn", "--channels", "16,16,32,32", "--out",
                         "{new}"], ConfigError,
     "input (1, 8, 8) is too small for 4 conv layers (unpadded 3x3, 2x2 pooling after every second); pass fewer "
     "--channels"),
    ("unknown-device", ["analyze", "{keep}", "--device", "gpu", "--out", "{new}"], ConfigError,
     "unknown device 'gpu'; choose one of: auto, cpu, cuda"),
    ("unknown-attack", ["analyze", "{keep}", "--attack", "cw", "--out", "{new}"], ConfigError,
     "unknown attack 'cw'; choose one of: fgsm, pgd"),
    ("zero-epochs", ["train", "--epochs", "0", "--out", "{new}"], ConfigError,
     "--epochs must be a positive integer, got 0"),
    ("negative-batch", ["train", "--batch-size", "-4", "--out", "{new}"], ConfigError,
     "--batch-size must be a positive integer, got -4"),
    ("zero-lr", ["train", "--lr", "0", "--out", "{new}"], ConfigError, "--lr must be a positive finite number, got 0.0"),
    ("zero-time-steps", ["train", "--model", "snn", "--time-steps", "0", "--out", "{new}"], ConfigError,
     "--time-steps must be a positive integer, got 0"),
    ("missing-data", ["train", "--dataset", "mnist", "--data-dir", "{data-missing}", "--out", "{new}"], DataError,
     "train-images-idx3-ubyte[.gz] not found in"),
    ("empty-data-file", ["train", "--dataset", "mnist", "--data-dir", "{data-empty}", "--out", "{new}"], DataError,
     "train-images-idx3-ubyte.gz is empty (0 bytes); re-download it"),
    ("corrupt-data-file", ["train", "--dataset", "mnist", "--data-dir", "{data-corrupt}", "--out", "{new}"],
     DataError, "is not an IDX file (bad magic number); re-download it"),
    ("wrong-image-shape", ["train", "--dataset", "mnist", "--data-dir", "{data-shape}", "--out", "{new}"],
     DataError, "mnist: train images have shape (20, 27, 27), expected (N, 28, 28)"),
    ("labels-out-of-range", ["train", "--dataset", "mnist", "--data-dir", "{data-labels}", "--out", "{new}"],
     DataError, "labels span 0..12, expected 0..9; the label file is corrupt"),
    ("out-holds-a-run", ["train", "--rule", "fa", "--dataset", "digits", "--out", "{keep}"], RunDirError,
     "already holds a run (config.json, metrics.csv, model.pt, dynamics.npz); pass --resume to continue it or "
     "--force"),
    ("out-not-writable", ["train", "--dataset", "digits", "--out", "{under-a-file}"], RunDirError,
     "; pass a writable folder"),
    ("out-is-a-file", ["train", "--dataset", "digits", "--out", "{a-file}"], RunDirError,
     "is a file, not a folder; pass a folder path"),
    ("truncated-checkpoint", ["train", *KEEP, "--resume", "--out", "{truncated}"], RunDirError,
     "model.pt is truncated or not a checkpoint"),
    ("foreign-checkpoint", ["analyze", "{foreign}", "--out", "{new}"], RunDirError,
     "model.pt was not written by bioplaus; retrain the run with --force"),
    ("checkpoint-of-another-model", ["analyze", "{mismatched}", "--out", "{new}"], RunDirError,
     "does not match its config.json"),
    ("resume-with-other-options", ["train", *KEEP, "--lr", "0.5", "--resume", "--out", "{keep}"], RunDirError,
     "cannot resume"),
    ("run-without-config", ["analyze", "{no-config}", "--out", "{new}"], RunDirError,
     "config.json is missing; pass a folder written by `bioplaus train`"),
    ("runs-of-different-datasets", ["analyze", "{keep}", "{mnist-run}", "--out", "{new}"], ConfigError,
     "runs come from different datasets (keep: digits, mnist-run: mnist): they are not evaluated on the same test "
     "images and classes; analyse one dataset at a time"),
    ("eps-above-one", ["analyze", "{keep}", "--eps", "0,1.5", "--out", "{new}"], ConfigError,
     "eps must lie in [0, 1] (pixel units), got 1.5"),
    ("analysis-exists", ["analyze", "{keep}", "--per-class", "2", "--eval-per-class", "2", "--eps", "0",
                         "--out", "{analysis}"], RunDirError,
     "already holds analysis results (results.json); pass --force to replace them"),
    ("compare-rule-for-no-model", ["compare", "--models", "snn", "--rules", "bp,fa", "--out", "{new}"], ConfigError,
     "rule 'fa' trains none of the models snn"),
    ("compare-zero-seeds", ["compare", "--seeds", "0", "--out", "{new}"], ConfigError,
     "--seeds and --epochs must be positive integers"),
    ("compare-unknown-dataset", ["compare", "--dataset", "imagenet", "--out", "{new}"], ConfigError,
     "unknown dataset 'imagenet'"),
    ("compare-into-a-run", ["compare", "--dataset", "digits", "--out", "{keep}"], RunDirError,
     "holds files that `bioplaus compare` did not write (config.json, dynamics.npz, metrics.csv)"),
    ("compare-finds-a-run-of-other-options", ["compare", "--dataset", "digits", "--models", "cnn", "--epochs", "1",
                                             "--runs", "{other-runs}", "--out", "{new}"], RunDirError,
     "digits-cnn-bp-s0 holds a run of other options"),
    ("figures-of-no-analysis", ["figures", "{keep}", "--out", "{new}"], RunDirError,
     "holds no results.json; run `bioplaus analyze"),
    ("hidden-empty", ["train", "--model", "mlp", "--hidden", "", "--out", "{new}"], ConfigError,
     "--hidden must be comma-separated positive integers, e.g. 1000,250; got ''"),
    ("hidden-not-a-number", ["train", "--model", "snn", "--hidden", "100,abc", "--out", "{new}"], ConfigError,
     "--hidden must be comma-separated positive integers, e.g. 1000,250; got '100,abc'"),
    ("seed-too-large", ["train", "--seed", "18446744073709551615", "--out", "{new}"], ConfigError,
     "--seed must be an integer from 0 to 4294967295, got 18446744073709551615"),
    ("figures-out-not-writable", ["figures", "{analysis-real}", "--out", "{under-a-file}"], RunDirError,
     "; pass a writable folder"),
    ("compare-out-not-writable", ["compare", "--dataset", "digits", "--out", "{under-a-file}"], RunDirError,
     "; pass a writable folder"),
    ("analyze-the-same-run-twice", ["analyze", "{keep}", "{keep}", "--out", "{new}"], ConfigError,
     "is given twice; pass each run once"),
    ("checkpoint-of-another-format", ["analyze", "{old-format}", "--out", "{new}"], RunDirError,
     "was written by bioplaus checkpoint format 0; this bioplaus reads format 1"),
    ("cuda-graph-on-the-cpu", ["train", "--dataset", "digits", "--device", "cpu", "--cuda-graph", "--out", "{new}"],
     ConfigError, "--cuda-graph records the training step as a CUDA graph, but this run is on cpu"),
    ("compare-cuda-graph-on-the-cpu", ["compare", "--dataset", "digits", "--device", "cpu", "--cuda-graph", "--out",
                                       "{new}"], ConfigError,
     "--cuda-graph records the training step as a CUDA graph, but this run is on cpu"),
    ("nan-divergence", ["train", "--dataset", "digits", "--optimizer", "sgd", "--lr", "1e9", "--out", "{new}"],
     DivergenceError, "training diverged: the loss became nan in epoch 1"),
]


def _snapshot(paths):
    files = {}
    for root in {p for p in paths.values() if p.exists()}:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                files[path] = path.read_bytes()
    return files


@pytest.mark.parametrize("argv, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(world, capsys, argv, error, message):
    fill = lambda **extra: [a.format(**{k: str(v) for k, v in dict(world, **extra).items()}) for a in argv]  # noqa: E731
    before = _snapshot(world)
    code = main(fill() + ["--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"bioplaus {argv[0]}: error: "), err
    assert message in err and "Traceback" not in err, err
    args = build_parser().parse_args(fill(new=world["new"].with_name("new-api")) + ["--quiet"])
    with pytest.raises(error) as raised:  # the Python API raises a specific class with the same message
        args.handler(args)
    assert message in str(raised.value)
    after = _snapshot(world)
    assert {p: after.get(p) for p in before} == before  # nothing that existed is lost or changed


def test_the_matrix_is_at_least_twenty_cases():
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


def test_damaged_files_the_user_can_touch_are_one_line_errors(tmp_path, capsys):
    """A gzip data file with damaged compressed data, a metrics.csv cut mid-row, a config.json edited by hand,
    a figure prefix that names another folder: each one line, exit 2."""
    import gzip
    import shutil
    from trainers.store.runfiles import read_config, write_config
    data = tmp_path / "data"
    write_mnist_like(data)
    images = data / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.compress(gzip.decompress(images.read_bytes()), compresslevel=1))
    raw[40:60] = bytes(20)  # damaged deflate stream, intact gzip header
    images.write_bytes(bytes(raw))
    run = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--hidden", "8", "--dataset", "digits", "--epochs", "1", "--quiet",
                 "--out", str(run)]) == 0
    cut = shutil.copytree(run, tmp_path / "cut")
    text = (cut / "metrics.csv").read_text()
    (cut / "metrics.csv").write_text(text[:text.index("\n") + 8])  # the row cut after a few characters
    edited = shutil.copytree(run, tmp_path / "edited")
    write_config(edited, dict(read_config(run), seed="zero"))
    cases = [(["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(tmp_path / "m")],
              f"cannot read {images}"),
             (["summary", str(cut)], "metrics.csv is damaged"),
             (["analyze", str(cut), "--out", str(tmp_path / "a")], "metrics.csv is damaged"),
             (["analyze", str(edited), "--out", str(tmp_path / "a")], "--seed must be an integer from 0"),
             (["train", "--out", str(edited), "--resume"], "config.json holds an invalid option"),
             (["figures", str(tmp_path), "--out", str(tmp_path / "f"), "--prefix", "../escaped-"],
              "holds a path separator")]
    for argv, message in cases:
        code = main(argv)
        captured = capsys.readouterr()
        said = captured.err + captured.out
        assert code == 2 and message in said and "Traceback" not in said, (argv, said)
    assert not (tmp_path / "a").exists() and not (tmp_path / "f").exists() and not (tmp_path / "m").exists()
