"""The accuracy table of finished runs: per dataset, model and rule, the learning rate and where it came
from (recipe or rule default), the final validation accuracy, the final test accuracy as mean ± sd over
seeds and the best seed, beside the number a paper publishes where there is one; as CSV and
Markdown (`reproduce` writes reproduction.*, `compare` accuracy.*)."""

import csv
import io
import statistics
from pathlib import Path

from trainers.store.runfiles import atomic_write, epochs_done, read_config, read_metrics

from ..results import rule_rank

# (dataset, model, rule) -> (published test accuracy %, its source)
PUBLISHED = {
    ("mnist", "cnn", "bp"): (99.09, "BioTorch LeNet"), ("mnist", "cnn", "fa"): (98.30, "BioTorch LeNet"),
    ("mnist", "cnn", "dfa"): (98.39, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "bp"): (90.80, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "fa"): (86.94, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "dfa"): (87.19, "BioTorch LeNet"),
    # BioTorch's benchmark (LeNet, 100 epochs, SGD): top-1 error 9.69 / 9.61 / 10.02 % on Fashion-MNIST,
    # 0.94 / 0.97 / 0.91 % on MNIST for uSF / frSF / brSF
    ("fashion-mnist", "cnn", "usf"): (90.31, "BioTorch LeNet"), ("fashion-mnist", "cnn", "frsf"): (90.39, "BioTorch LeNet"),
    ("fashion-mnist", "cnn", "brsf"): (89.98, "BioTorch LeNet"),
    ("mnist", "cnn", "usf"): (99.06, "BioTorch LeNet"), ("mnist", "cnn", "frsf"): (99.03, "BioTorch LeNet"),
    ("mnist", "cnn", "brsf"): (99.09, "BioTorch LeNet"),
    ("cifar10", "cnn", "bp"): (70.47, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("cifar10", "cnn", "dfa"): (61.02, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("cifar10", "cnn", "dkp"): (67.52, "DKP reference, 2 conv + 2 fc, mean of 4 seeds"),
    ("mnist", "snn", "dfa"): (96.75, "Zhang et al. 2024, 784-1000-10, best (mean 92.09)"),
    ("mnist", "snn", "adfa"): (98.01, "Zhang et al. 2024, 784-1000-10, best (mean 97.91)"),
}


def table(out, names=None) -> list[dict]:
    """One row per (dataset, model, rule) over the finished runs in `out` (those named in `names`, if given)."""
    groups = {}
    for run_dir in sorted(Path(out).iterdir()):
        if not (run_dir / "config.json").is_file() or (names is not None and run_dir.name not in names):
            continue
        config, done = read_config(run_dir), epochs_done(run_dir)
        if done < config["epochs"]:  # unfinished (the one definition: metrics row and checkpoint written)
            continue
        rows = read_metrics(run_dir)[:done]
        key = (config["dataset"], config["model"], config["rule"])
        source = config.get("sources", {}).get("lr", "before recipes")
        groups.setdefault(key, []).append((config["seed"], rows[-1]["test_acc"] * 100, config["epochs"],
                                           rows[-1].get("val_acc", float("nan")) * 100, f"{config.get('lr', float('nan')):g} ({source})"))
    out_rows = []  # rules in the registry's order: BP first
    for (dataset, model, rule), values in sorted(groups.items(), key=lambda item: (
            item[0][0], item[0][1], rule_rank(item[0][2]), item[0][2])):
        accuracies = [v[1] for v in sorted(values)]
        published = PUBLISHED.get((dataset, model, rule))
        out_rows.append({
            "dataset": dataset, "model": model, "rule": rule, "epochs": values[0][2],
            "seeds": " ".join(str(v[0]) for v in sorted(values)), "n": len(accuracies),
            "mean": statistics.fmean(accuracies),
            "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else None,  # one seed has no sd
            "val_mean": statistics.fmean(v[3] for v in values), "lr": " / ".join(sorted({v[4] for v in values})),
            "best": max(accuracies), "published": published[0] if published else None,
            "published_source": published[1] if published else ""})
    return out_rows


def _mean_sd(row: dict) -> str:
    """"92.00 ± 2.00", or the mean alone for one seed (an sd of one value is not 0, it does not exist)."""
    return f"{row['mean']:.2f}" if row["sd"] is None else f"{row['mean']:.2f} ± {row['sd']:.2f}"


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
    lines = ["| dataset | model | rule | lr (source) | epochs | n | validation, mean (%) | test accuracy, mean ± sd (%) "
             "| best (%) | published (%) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        published = f"{r['published']:.2f} ({r['published_source']})" if r["published"] is not None else "—"
        validation = "—" if r["val_mean"] != r["val_mean"] else f"{r['val_mean']:.2f}"  # NaN: no validation slice
        lines.append(f"| {r['dataset']} | {r['model']} | {r['rule']} | {r['lr']} | {r['epochs']} | {r['n']} | "
                     f"{validation} | {_mean_sd(r)} | {r['best']:.2f} | {published} |")
    atomic_write(out / f"{name}.md", "\n".join(lines) + "\n")
    return out / f"{name}.csv", out / f"{name}.md"
