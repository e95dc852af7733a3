"""`analyze`: every analysis of a set of trained runs on one dataset, written to results.json + arrays.npz.

It loads runs and never trains. All runs see the same images: a stratified sample of `per_class`
test images per class for representations (RDMs, paths, embeddings), and a larger one of
`eval_per_class` per class for gradient SNR, cosine to BP and attacks.
"""

import platform
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from trainers import __version__
from trainers.errors import ConfigError, unknown_name
from trainers.datasets import dataset_spec
from trainers.precision import deterministic_algorithms, device_record
from trainers.runfiles import load_run, read_config, read_metrics
from trainers.training import resolve_device

from .choices import ATTACKS, COMPARISONS, EMBEDDINGS, MODES, RDM_METHODS
from .embedding import embed
from .features import analysis_sample, rarest_class_count, record_features, spike_raster
from .gradients import bp_cosines, gradient_snr
from .paths import representational_paths
from .results import prepare_out, write_results
from .robustness import accuracy, attack, check_eps, default_eps, input_gradient, robustness_curves
from .rsa import compare_rdms, label_rdm, layer_rdms


def _run_names(run_dirs) -> list[str]:
    """Folder names, made unique with a numeric suffix when two folders share a name."""
    names = []
    for run_dir in run_dirs:
        name, k = Path(run_dir).name, 2
        while name in names:
            name, k = f"{Path(run_dir).name}-{k}", k + 1
        names.append(name)
    return names


def _check_runs(run_dirs) -> str:
    if not run_dirs:
        raise ConfigError("no run folders given; pass the folders written by `bioplaus train`")
    configs = {str(r): read_config(r) for r in run_dirs}
    datasets = sorted({c.get("dataset") for c in configs.values()})
    if len(datasets) > 1:
        detail = ", ".join(f"{Path(r).name}: {c.get('dataset')}" for r, c in configs.items())
        raise ConfigError(f"runs come from different datasets ({detail}); analyse one dataset at a time")
    return datasets[0]


def training_cosines(run_dir) -> dict:
    """{"epoch": [...], layer: [cos per epoch]} from the run's metrics.csv (measured while training)."""
    rows = read_metrics(run_dir)
    table = {"epoch": [row["epoch"] for row in rows]}
    for key in (rows[0] if rows else {}):
        if key.startswith("cos_bp/"):
            table[key.split("/", 1)[1]] = [row[key] for row in rows]
    return table


def training_history(run_dir) -> dict:
    """{"epoch": [...], "train_loss": [...], "train_acc", "test_loss", "test_acc"} from metrics.csv."""
    rows = read_metrics(run_dir)
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    return {key: [row[key] for row in rows] for key in keys}


def _firing(model, features, sample, name: str, arrays: dict) -> dict:
    """An SNN's firing on the representation sample: per-neuron rates into `arrays["rates/RUN/LAYER"]`
    (spikes per step, averaged over the sample), one image's spike trains into `arrays["raster/RUN/LAYER"]`."""
    summary = {}
    for layer, trains in spike_raster(model, sample.images[0]).items():
        rates = features.layers[layer].mean(0) / model.time_steps
        arrays[f"rates/{name}/{layer}"], arrays[f"raster/{name}/{layer}"] = rates, trains
        summary[layer] = {"mean": float(rates.mean()), "silent_fraction": float((rates == 0).mean()),
                          "neurons": int(rates.size)}
    return {"time_steps": model.time_steps, "unit": "spikes per time step", "layers": summary,
            "raster_image": {"test_index": int(sample.index[0]), "label": int(sample.labels[0])}}


def _provenance(run_dir, config: dict, measure: str) -> dict:
    rows = read_metrics(run_dir)
    return {"path": str(run_dir), "model": config["model"], "rule": config["rule"], "seed": config["seed"],
            "epochs": config["epochs"], "epochs_done": rows[-1]["epoch"] if rows else 0,
            "test_acc": rows[-1]["test_acc"] if rows else None, "features": measure,
            "cos_batch": config.get("cos_batch"),
            "version": config.get("version")}


def _adversarial_rdms(models, sample, run_rdms, attack_name, eps, rdm_method, pgd_steps, seed, arrays) -> dict:
    """RDMs of each run's layers on its own white-box adversarial images, and per layer the
    similarity (cosine of RDMs) to the clean RDM: how far an attack moves the representation geometry."""
    similarity = {}
    for name, model in models.items():
        images = sample.images.to(next(model.parameters()).device)
        labels = sample.labels.to(images.device)
        adversarial = attack(attack_name, model, images, labels, eps, "true", pgd_steps=pgd_steps, seed=seed)
        layers = record_features(model, adversarial, labels).layers
        layers.pop("input")
        rdms = layer_rdms(layers, rdm_method)
        arrays[f"adversarial_rdm/{name}"] = np.stack(list(rdms.values()))
        similarity[name] = {layer: float(compare_rdms(np.stack([run_rdms[name][layer], rdm]))[0, 1])
                            for layer, rdm in rdms.items()}
    return {"attack": attack_name, "mode": "true", "eps": eps, "comparison": "cosine",
            "similarity_to_clean": similarity}


def _attackable(models: dict, images, labels) -> tuple[dict, dict]:
    """({run: model} with an input gradient, {run: why not}): e.g. Poisson-encoded SNNs have none."""
    attackable, skipped = {}, {}
    for name, model in models.items():
        try:
            input_gradient(model, images[:2], labels[:2])
            attackable[name] = model
        except ConfigError as exc:
            skipped[name] = str(exc)
    return attackable, skipped


def _embed_layers(layers: dict, methods, seed: int, arrays: dict) -> dict:
    """Embed each named layer by each method into `arrays["METHOD/NAME"]`; returns {name: {method: quality}}."""
    quality = {}
    for key, patterns in layers.items():
        for method in methods:
            fit = embed(patterns, method, seed)
            arrays[f"{method}/{key}"] = fit.coords
            quality.setdefault(key.split("/", 1)[-1], {})[method] = fit.quality
    return quality


@deterministic_algorithms()
def analyze(run_dirs, out, *, per_class: int = 20, eval_per_class: int | None = None,
            rdm_method: str = "correlation", comparison: str = "cosine", embeddings=("tsne", "pca"),
            eps=None, attacks=ATTACKS, modes=MODES, pgd_steps: int = 10, adversarial_eps: float | None = None,
            snr_eps: float = 1e-8, seed: int = 0, data_dir=None, device: str = "auto", force: bool = False,
            progress: bool | None = None) -> Path:
    """Analyse the runs in `run_dirs` (all on one dataset) into the folder `out`; returns its path.

    `eps` is the attack grid (default: per dataset family); `adversarial_eps` the ε of the RDMs under
    attack (default: the grid's middle value); `eval_per_class` defaults to min(100, rarest class).
    Runs with PyTorch's deterministic algorithms; gradients, attacks and features in full float32.
    """
    run_dirs = [Path(r) for r in run_dirs]
    dataset = _check_runs(run_dirs)
    choices = (("RDM method", [rdm_method], RDM_METHODS), ("RDM comparison", [comparison], COMPARISONS),
               ("embedding", embeddings, EMBEDDINGS), ("attack", attacks, ATTACKS), ("attack mode", modes, MODES))
    for kind, values, valid in choices:
        for value in values:
            if value not in valid:
                raise unknown_name(kind, value, valid)
    eps = [check_eps(e) for e in (default_eps(dataset) if eps is None else eps)]
    adversarial_eps = check_eps(eps[len(eps) // 2] if adversarial_eps is None else adversarial_eps)
    if per_class < 1 or (eval_per_class is not None and eval_per_class < 1) or pgd_steps < 1:
        raise ConfigError("--per-class, --eval-per-class and --pgd-steps must be positive integers")
    torch_device = resolve_device(device)

    names = _run_names(run_dirs)
    models, configs = {}, {}
    for name, run_dir in zip(names, run_dirs):
        models[name], configs[name] = load_run(run_dir, torch_device)
    sample = analysis_sample(dataset, per_class, seed, data_dir)
    if eval_per_class is None:
        eval_per_class = min(100, rarest_class_count(dataset, data_dir))
    evaluation = analysis_sample(dataset, eval_per_class, seed + 1, data_dir)
    x_eval, y_eval = evaluation.images.to(torch_device), evaluation.labels.to(torch_device)
    out = prepare_out(out, force)

    steps = len(names) * 4 + len(attacks) * len(names) * len(eps) + 1
    bar = tqdm(total=steps, desc="analyze", disable=progress is False, unit="step")
    results = {"dataset": dataset, "runs": {}, "layers": {}, "snr": {}, "cosine": {}, "embeddings": {},
               "accuracy": {}, "training": {}, "firing": {}}
    arrays = {"sample/index": sample.index.numpy(), "sample/labels": sample.labels.numpy(),
              "eval/index": evaluation.index.numpy()}
    run_rdms = {}
    for name, run_dir in zip(names, run_dirs):
        model = models[name]
        bar.set_postfix_str(f"{name}: features, RDMs, embeddings")
        features = record_features(model, sample.images, sample.labels)
        rdms = layer_rdms(features.layers, rdm_method)
        arrays["rdm/input"], arrays["rdm/labels"] = rdms.pop("input"), label_rdm(features.labels)
        run_rdms[name] = rdms
        arrays[f"rdm/{name}"] = np.stack(list(rdms.values()))
        results["layers"][name] = list(rdms)
        results["runs"][name] = _provenance(run_dir, configs[name], features.measure)
        results["training"][name] = training_history(run_dir)
        if features.measure == "spike count":
            results["firing"][name] = _firing(model, features, sample, name, arrays)
        # the input layer is the same images for every run: embedded once, under "input"
        layers = {("input" if layer == "input" else f"{name}/{layer}"): patterns
                  for layer, patterns in features.layers.items() if layer != "input" or name == names[0]}
        results["embeddings"][name] = _embed_layers(layers, embeddings, seed, arrays)
        bar.update(2)
        bar.set_postfix_str(f"{name}: gradient SNR, cosine to BP")
        results["snr"][name] = gradient_snr(model, x_eval, y_eval, eps=snr_eps)
        results["cosine"][name] = {"analysis": bp_cosines(model, x_eval, y_eval), "training": training_cosines(run_dir)}
        bar.update(2)

    joint, per_run = representational_paths(run_rdms, arrays["rdm/input"], arrays["rdm/labels"], comparison, seed)
    results["paths"] = {"comparison": comparison, "distance": "arccos(similarity), radians",
                        "joint": {"items": joint.items, "stress": joint.stress},
                        "per_run": {run: {"items": p.items, "stress": p.stress} for run, p in per_run.items()}}
    for run, p in {"joint": joint, **per_run}.items():
        arrays[f"paths/{run}/coords"], arrays[f"paths/{run}/distances"] = p.coords, p.distances

    for name in names:
        results["accuracy"][name] = accuracy(models[name], x_eval, y_eval)
    bar.set_postfix_str("attacks")
    attackable, skipped = _attackable(models, x_eval, y_eval)
    curves, transfer = robustness_curves(attackable, x_eval, y_eval, eps, attacks, modes, pgd_steps, seed, bar.update)
    for attack_name, matrix in transfer.items():
        arrays[f"transfer/{attack_name}"] = matrix
    results["robustness"] = {"eps": eps, "attacks": list(attacks), "modes": list(modes), "pgd_steps": pgd_steps,
                             "curves": curves, "transfer_order": list(attackable), "skipped": skipped,
                             "note": "feedback mode attacks with the rule's own pseudo-gradient: it probes "
                                     "gradient masking and is not a robustness measure"}

    bar.set_postfix_str("RDMs under attack")
    results["adversarial_rdm"] = _adversarial_rdms(attackable, sample, run_rdms, attacks[0] if attacks else "fgsm",
                                                   adversarial_eps, rdm_method, pgd_steps, seed, arrays)
    bar.update()
    bar.close()
    results["provenance"] = {
        "package": "bioplaus", "version": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": str(torch_device), **device_record(torch_device), "deterministic": True, "tf32": False,
        "dataset": dataset, "num_classes": dataset_spec(dataset).num_classes,
        "sample": {"split": "test", "per_class": per_class, "n": len(sample.index), "seed": seed},
        "eval_sample": {"split": "test", "per_class": eval_per_class, "n": len(evaluation.index), "seed": seed + 1},
        "seeds": {"embedding": seed, "pgd_start": seed},
        "options": {"rdm_method": rdm_method, "comparison": comparison, "embeddings": list(embeddings),
                    "snr_eps": snr_eps, "adversarial_eps": adversarial_eps},
        "feature_mode": "eval mode; CNN/MLP: block outputs after activation (and pooling); SNN: spike counts; "
                        "out: softmax probabilities",
    }
    write_results(out, results, arrays)
    return out
