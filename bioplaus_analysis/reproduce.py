"""The reproduction table: the rules on full datasets, 3 seeds, next to the numbers papers publish.

`reproduce()` trains every run of the grid that is not finished yet (so it resumes), then writes
`reproduction.csv` and `reproduction.md`: per dataset, model and rule, the final test accuracy as
mean ± sd over seeds and the best seed, beside the published anchor where one exists.
"""

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from trainers import TrainConfig, train
from trainers.datasets import load_dataset
from trainers.errors import DataError
from trainers.rules import RULES
from trainers.runfiles import atomic_write, read_config, read_metrics

# (dataset, model, rule) -> (published test accuracy %, its source)
PUBLISHED = {
    ("mnist", "cnn", "bp"): (99.09, "BioTorch LeNet"), ("mnist", "cnn", "fa"): (98.30, "BioTorch LeNet"),
    ("mnist", "cnn", "dfa"): (98.39, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "bp"): (90.80, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "fa"): (86.94, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "dfa"): (87.19, "BioTorch LeNet"),
    ("cifar10", "cnn", "bp"): (70.47, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("cifar10", "cnn", "dfa"): (61.02, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("cifar10", "cnn", "dkp"): (67.52, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("mnist", "snn", "dfa"): (96.75, "Zhang et al. 2024, 784-1000-10, best (mean 92.09)"),
    ("mnist", "snn", "adfa"): (98.01, "Zhang et al. 2024, 784-1000-10, best (mean 97.91)"),
}
GRID = {"cnn": (("bp", "fa", "dfa", "dkp"), 10), "snn": (("bp", "dfa", "adfa", "dkp"), 5)}
MNIST_LIKE = ("fashion-mnist", "mnist")


@dataclass(frozen=True)
class Run:
    dataset: str
    model: str
    rule: str
    seed: int
    epochs: int

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.model}-{self.rule}-s{self.seed}"


def available_datasets(data_dir=None) -> dict:
    """{dataset: the data_dir to read it from}: fashion-mnist always (from `data_dir`, else Debian's
    package), mnist and cifar10 when their files are in `data_dir`."""
    found = {}
    for name in ("fashion-mnist", "mnist", "cifar10"):
        for folder in (data_dir, None) if name == "fashion-mnist" and data_dir is not None else (data_dir,):
            try:
                load_dataset(name, "test", folder)
                found[name] = None if folder is None else str(folder)
                break
            except DataError:
                if name == "fashion-mnist" and folder is None:
                    raise
    return found


def grid(datasets, seeds=(0, 1, 2), models=("cnn", "snn")) -> list[Run]:
    """CNN × {bp, fa, dfa, dkp} (10 epochs) and, on MNIST-like data, SNN 784-1000-10 × {bp, dfa, adfa, dkp}
    (5 epochs, T = 25, direct encoding), each for every seed."""
    return [Run(d, m, r, s, GRID[m][1]) for s in seeds for d in datasets for m in models
            if m == "cnn" or d in MNIST_LIKE for r in GRID[m][0]]  # seed outermost: a cut sweep stays balanced


def _finished(run_dir: Path, epochs: int) -> bool:
    rows = read_metrics(run_dir) if (run_dir / "config.json").exists() else []
    return len(rows) >= epochs


def train_grid(runs, out, data_dirs: dict, device="auto", progress=None) -> None:
    """Train each run into out/NAME unless it is finished (an interrupted one continues, --resume);
    `data_dirs` maps each dataset to its folder (None: the default location)."""
    for run in tqdm(runs, desc="reproduce", unit="run", disable=progress is False):
        run_dir = Path(out) / run.name
        if _finished(run_dir, run.epochs):
            continue
        config = TrainConfig(model=run.model, rule=run.rule, dataset=run.dataset, epochs=run.epochs, seed=run.seed,
                             data_dir=data_dirs.get(run.dataset), device=device)
        train(config, run_dir, resume=True, progress=False if progress is False else None)


def table(out, names=None) -> list[dict]:
    """One row per (dataset, model, rule) over the finished runs in `out` (those named in `names`, if given)."""
    groups = {}
    for run_dir in sorted(Path(out).iterdir()):
        if not (run_dir / "config.json").is_file() or (names is not None and run_dir.name not in names):
            continue
        config, rows = read_config(run_dir), read_metrics(run_dir)
        if not rows or rows[-1]["epoch"] < config["epochs"]:
            continue
        key = (config["dataset"], config["model"], config["rule"])
        groups.setdefault(key, []).append((config["seed"], rows[-1]["test_acc"] * 100, config["epochs"]))
    out_rows = []
    order = tuple(RULES)  # BP first, then the registry's order
    for (dataset, model, rule), values in sorted(groups.items(), key=lambda item: (
            item[0][0], item[0][1], order.index(item[0][2]) if item[0][2] in order else len(order), item[0][2])):
        accuracies = [v[1] for v in sorted(values)]
        published = PUBLISHED.get((dataset, model, rule))
        out_rows.append({
            "dataset": dataset, "model": model, "rule": rule, "epochs": values[0][2],
            "seeds": " ".join(str(v[0]) for v in sorted(values)), "n": len(accuracies),
            "mean": statistics.fmean(accuracies), "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "best": max(accuracies), "published": published[0] if published else None,
            "published_source": published[1] if published else ""})
    return out_rows


def write_table(rows: list[dict], out, name: str = "reproduction") -> tuple[Path, Path]:
    """NAME.csv and NAME.md in `out`, written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["dataset"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in row.items()})
    atomic_write(out / f"{name}.csv", buffer.getvalue())
    lines = ["| dataset | model | rule | epochs | n | test accuracy, mean ± sd (%) | best (%) | published (%) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        published = f"{r['published']:.2f} ({r['published_source']})" if r["published"] is not None else "—"
        lines.append(f"| {r['dataset']} | {r['model']} | {r['rule']} | {r['epochs']} | {r['n']} | "
                     f"{r['mean']:.2f} ± {r['sd']:.2f} | {r['best']:.2f} | {published} |")
    atomic_write(out / f"{name}.md", "\n".join(lines) + "\n")
    return out / f"{name}.csv", out / f"{name}.md"


def reproduce(out, data_dir=None, seeds=(0, 1, 2), models=("cnn", "snn"), device="auto", progress=None):
    """Train the grid for every dataset available and write the table; returns (csv, md) paths."""
    Path(out).mkdir(parents=True, exist_ok=True)
    datasets = available_datasets(data_dir)
    train_grid(grid(list(datasets), seeds, models), out, datasets, device, progress)
    return write_table(table(out), out)
