"""`analyze`: every analysis of a set of trained runs on one dataset, written to results.json + arrays.npz.

It loads runs and never changes them (the cost section times training steps on copies). All runs see the
same images: a stratified sample of `per_class` test images per class for representations (RDMs, paths,
embeddings), and a larger one of `eval_per_class` per class for gradient SNR, cosine to BP and attacks.
`AnalysisOptions` holds every option; one function per section (representations, gradients, robustness, cost,
provenance) returns its part of the results.
"""

import math
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from trainers import ConfigError, __version__, dataset_spec, load_run, model_device, resolve_device
from trainers.precision import deterministic_algorithms, device_record
from trainers.store.runfiles import epochs_done, read_metrics, state_digest, training_cosines, training_history

from .architecture import architecture
from .choices import COSINE_BATCH
from .cost import cost_section
from .dynamics import alignment_history, representation_dynamics
from .embedding import QUALITY, embed
from .features import analysis_sample, record_features, sample_of, spike_raster
from .gradients import bp_cosines, gradient_snr
from .options import AnalysisOptions
from .results import Analysis, prepare_out, write_results
from .stage_times import StageTimes, stage
from .stats import write_stats
from .stats_table import stats_rows
from .tidy_tables import write_tidy_tables
from .foreign import as_analysed
from .robustness import (accuracy, attack, attack_passes, check_batch, input_gradient, model_rule,
                         robustness_curves, rule_name, transfer_eps_of, transfer_matrices, transfer_passes)
from .rsa import compare_rdms, label_rdm, layer_rdms
from .rsa_summary import rsa_summary
from .run_checks import check_finished_runs, check_runs
from .trajectories import representational_paths

__all__ = ["AnalysisOptions", "analyze", "analyze_models", "training_cosines", "training_history"]

# The progress bar counts expected seconds, so its ETA holds from the first steps. Measured on 2 CPU cores
# with the reference CNN: a forward pass over 1,000 images 0.2 s, a gradient pass 1.75 of those, one run's
# features, RDMs and embeddings 5 s, its SNR and cosine 8 forward passes over the evaluation sample.
PASS_SECONDS, GRADIENT_PASSES, REPRESENTATION_SECONDS, GRADIENT_SECTION_PASSES = 0.2, 1.75, 5.0, 8.0


class _Progress:
    """A tqdm bar in expected seconds over the sections of one analysis. The pass cost is rescaled by
    what the gradient section (passes over the same images) really took, before the attacks start."""

    def __init__(self, n_eval: int, progress):
        self.pass_seconds = PASS_SECONDS * n_eval / 1000
        self.bar = tqdm(total=0, desc="analyze", disable=None if progress is None else not progress,
                        unit="s", bar_format="{l_bar}{bar}| [{elapsed}<{remaining}{postfix}]")

    def attack_seconds(self, gradients: float, forwards: float) -> float:
        return (forwards + GRADIENT_PASSES * gradients) * self.pass_seconds

    def calibrate(self, planned: float, took: float) -> None:
        """Scale every later pass by took / planned seconds, and the bar's remaining total with it."""
        scale = took / planned if planned > 0 and took > 0 else 1.0
        remaining = self.bar.total - self.bar.n - REPRESENTATION_SECONDS
        self.pass_seconds *= scale
        self.bar.total = self.bar.n + remaining * scale + REPRESENTATION_SECONDS
        self.bar.refresh()

    def plan(self, n_runs: int, attack_steps) -> None:
        """The total: every run's representations and gradients, then every (attack, run, ε) step."""
        self.bar.total = n_runs * (REPRESENTATION_SECONDS + GRADIENT_SECTION_PASSES * self.pass_seconds) + \
            sum(self.attack_seconds(*passes) for passes in attack_steps) + REPRESENTATION_SECONDS
        if not self.bar.disable:
            total = self.bar.total
            expected = f"{total:.0f} s" if total < 120 else f"{total / 60:.0f} min"
            self.bar.write(f"analyze: {n_runs} runs, {len(attack_steps)} attack steps: about {expected} expected on "
                           "2 CPU cores (the bar's ETA adjusts to this machine)")
        self.bar.refresh()

    def advance(self, label: str, seconds: float) -> None:
        self.bar.set_postfix_str(label, refresh=False)
        self.bar.update(seconds)

    def close(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()


def _run_names(run_dirs) -> list[str]:
    """Folder names, made unique with a numeric suffix when two folders share a name."""
    names = []
    for run_dir in run_dirs:
        name, k = Path(run_dir).name, 2
        while name in names:
            name, k = f"{Path(run_dir).name}-{k}", k + 1
        names.append(name)
    return names


@dataclass
class _Runs:
    """The loaded runs of one analysis: {name: model}, {name: config}, {name: folder}, {name: epochs done}."""
    models: dict
    configs: dict
    dirs: dict
    done: dict

    @classmethod
    def from_folders(cls, run_dirs, device) -> "_Runs":
        """Each run folder's network (its checkpoint checked against its config.json), config and epochs done."""
        dirs = dict(zip(_run_names(run_dirs), run_dirs))
        loaded = {name: load_run(run_dir, device) for name, run_dir in dirs.items()}
        return cls(models={name: model for name, (model, _) in loaded.items()},
                   configs={name: config for name, (_, config) in loaded.items()},
                   dirs=dirs, done={name: epochs_done(run_dir) for name, run_dir in dirs.items()})

    @classmethod
    def in_memory(cls, models: dict) -> "_Runs":
        """Networks given as objects: no folder, no training history; each named by its label, its source "in
        memory" with the SHA-256 of its weights."""
        configs = {name: {"model": m.kind, "rule": m.rule_name if m.rule is None else m.rule.name, "seed": 0,
                          "epochs": None, "source": f"in memory (weights sha256 {state_digest(m.state_dict())})"}
                   for name, m in models.items()}
        return cls(models=dict(models), configs=configs, dirs=dict.fromkeys(models), done=dict.fromkeys(models))


def rate_ceiling(model, steps: int) -> float | None:
    """The highest firing rate a bioplaus LIF neuron can reach in `steps` steps: one spike, then its refractory
    steps, again and again, ⌈T / (1 + refractory steps)⌉ / T; None for a library's neurons."""
    neuron = getattr(model, "neuron", None)
    if neuron is None or not hasattr(neuron, "refractory_steps"):
        return None
    return math.ceil(steps / (1 + neuron.refractory_steps)) / steps


def _firing(model, features, sample, name: str, arrays: dict) -> dict:
    """An SNN's firing on the representation sample: per-neuron rates into `arrays["rates/RUN/LAYER"]`
    (spikes per step, averaged over the sample), one image's spike trains into `arrays["raster/RUN/LAYER"]`
    and the image itself into `arrays["raster/image"]`."""
    summary, steps, ceiling = {}, None, None
    for layer, trains in spike_raster(model, sample.images[0]).items():
        steps = len(trains)  # the network's time steps (a library's layer: the calls in one forward)
        ceiling = rate_ceiling(model, steps)
        rates = features.layers[layer].mean(0) / steps
        arrays[f"rates/{name}/{layer}"], arrays[f"raster/{name}/{layer}"] = rates, trains
        # saturated: firing on every step a neuron can, so its rate says nothing more
        summary[layer] = {"mean": float(rates.mean()), "silent_fraction": float((rates == 0).mean()),
                          "neurons": int(rates.size),
                          "saturated_fraction": None if ceiling is None else float((rates >= ceiling - 1e-9).mean())}
    arrays["raster/image"] = sample.images[0].detach().cpu().numpy()  # (C, H, W) in [0, 1], shown beside rasters
    return {"time_steps": steps, "unit": "spikes per time step", "layers": summary, "rate_ceiling": ceiling,
            "raster_image": {"test_index": int(sample.index[0]), "label": int(sample.labels[0])}}


def _provenance(run_dir, config: dict, measure: str, done: int) -> dict:
    rows = read_metrics(run_dir) if run_dir else []
    return {"path": str(run_dir) if run_dir else None, "source": config.get("source", "run folder"),
            "model": config["model"], "rule": config["rule"], "seed": config["seed"],
            "epochs": config["epochs"], "epochs_done": done,
            "test_acc": rows[-1]["test_acc"] if rows else None, "features": measure,
            "cos_batch": config.get("cos_batch"), "cos_images": config.get("cos_images"), "version": config.get("bioplaus_version"),
            "test_images": config.get("test_images"), "validation_images": config.get("validation_images")}


def _embed_layers(layers: dict, methods, seed: int, arrays: dict) -> dict:
    """Embed each named layer by each method into `arrays["METHOD/NAME"]`; returns {name: {method: quality}}."""
    quality = {}
    for key, patterns in layers.items():
        for method in methods:
            with stage("embeddings"):
                fit = embed(patterns, method, seed)
            arrays[f"{method}/{key}"] = fit.coords
            quality.setdefault(key.split("/", 1)[-1], {})[method] = fit.quality
    return quality


def _represent_run(name, runs: _Runs, sample, options, arrays, first: bool) -> tuple[dict, dict]:
    """One run's features, RDMs (into `arrays`), embeddings and firing: ({section: its part}, {layer: RDM})."""
    model = runs.models[name]
    features = record_features(model, sample.images, sample.labels)
    rdms = layer_rdms(features.layers, options.rdm_method)
    arrays["rdm/input"], arrays["rdm/labels"] = rdms.pop("input"), label_rdm(features.labels)
    arrays[f"rdm/{name}"] = np.stack(list(rdms.values()))
    if runs.dirs[name]:  # the untrained baseline: the same network as its training started
        untrained, _ = load_run(runs.dirs[name], model_device(model), weights=False)
        initial = layer_rdms(record_features(untrained, sample.images, sample.labels).layers, options.rdm_method)
        arrays[f"rdm_untrained/{name}"] = np.stack([initial[layer] for layer in rdms])
    # the input layer is the same images for every run: embedded once, under "input"
    layers = {("input" if layer == "input" else f"{name}/{layer}"): patterns
              for layer, patterns in features.layers.items() if layer != "input" or first}
    part = {"layers": list(rdms), "runs": _provenance(runs.dirs[name], runs.configs[name], features.measure,
                                                          runs.done[name]),
            "training": training_history(runs.dirs[name]) if runs.dirs[name] else {},
            "embeddings": _embed_layers(layers, options.embeddings, options.seed, arrays)}
    if model.spiking:
        part["firing"] = _firing(model, features, sample, name, arrays)
    network = architecture(model)
    if network is not None:
        part["architecture"] = network
    return part, rdms


def representations(runs: _Runs, sample, options: AnalysisOptions, arrays: dict, progress) -> tuple[dict, dict]:
    """Layers, provenance, training history, embeddings and firing per run, and the representational
    paths; returns (results part, {run: {layer: RDM}})."""
    part = {key: {} for key in ("runs", "layers", "embeddings", "training", "firing", "architecture")}
    run_rdms = {}
    for i, name in enumerate(runs.models):
        own, run_rdms[name] = _represent_run(name, runs, sample, options, arrays, first=i == 0)
        for key, value in own.items():
            part[key][name] = value
        progress.advance(f"{name}: features, RDMs, embeddings", REPRESENTATION_SECONDS)
    with stage("paths"):
        joint, per_run = representational_paths(run_rdms, arrays["rdm/input"], arrays["rdm/labels"],
                                                options.comparison, options.seed)
    part["paths"] = {"comparison": options.comparison, "distance": "arccos(similarity), radians",
                     "joint": {"items": joint.items, "stress": joint.stress},
                     "per_run": {run: {"items": p.items, "stress": p.stress} for run, p in per_run.items()}}
    for run, p in {"joint": joint, **per_run}.items():
        arrays[f"paths/{run}/coords"], arrays[f"paths/{run}/distances"] = p.coords, p.distances
    return part, run_rdms


def gradients(runs: _Runs, x_eval, y_eval, options: AnalysisOptions, progress) -> dict:
    """Gradient SNR of each rule's per-sample updates and its cosine to BP (now, and while training)."""
    part, started = {"snr": {}, "cosine": {}}, time.perf_counter()
    for name, model in runs.models.items():
        if model_rule(model) is None:
            continue  # trained elsewhere: no rule whose updates to measure
        part["snr"][name] = gradient_snr(model, x_eval, y_eval, eps=options.snr_eps)
        part["cosine"][name] = {"analysis": bp_cosines(model, x_eval, y_eval, batch_size=COSINE_BATCH),
                                "training": training_cosines(runs.dirs[name]) if runs.dirs[name] else {}}
        progress.advance(f"{name}: gradient SNR, cosine to BP", GRADIENT_SECTION_PASSES * progress.pass_seconds)
    planned = len(runs.models) * GRADIENT_SECTION_PASSES * progress.pass_seconds
    progress.calibrate(planned, time.perf_counter() - started)
    return part


def learning_dynamics(runs: _Runs, options: AnalysisOptions, arrays) -> dict:
    """Weight alignment per epoch and the probe set's representational dynamics, read from the run files."""
    folders = {name: run_dir for name, run_dir in runs.dirs.items() if run_dir}
    return {"alignment": {name: alignment_history(run_dir) for name, run_dir in folders.items()},
            "dynamics": representation_dynamics(folders, options.comparison, options.seed, arrays,
                                                options.label_comparison)}


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


def _adversarial_rdms(models, sample, run_rdms, options: AnalysisOptions, arrays) -> dict:
    """RDMs of each run's layers on its own white-box adversarial images, and per layer the similarity (the
    analysis's RDM comparison) to the clean RDM: how far an attack moves the representation geometry."""
    attack_name, eps, similarity = options.attacks[0] if options.attacks else "fgsm", options.adversarial_eps, {}
    for name, model in models.items():
        images = sample.images.to(model_device(model))
        labels = sample.labels.to(images.device)
        adversarial = attack(attack_name, model, images, labels, eps, "true", pgd_steps=options.pgd_steps,
                             seed=options.seed)
        layers = record_features(model, adversarial, labels).layers
        layers.pop("input")
        rdms = layer_rdms(layers, options.rdm_method)
        arrays[f"adversarial_rdm/{name}"] = np.stack(list(rdms.values()))
        similarity[name] = {layer: float(compare_rdms(np.stack([run_rdms[name][layer], rdm]), options.comparison)[0, 1])
                            for layer, rdm in rdms.items()}
    return {"attack": attack_name, "mode": "true", "eps": eps, "comparison": options.comparison,
            "similarity_to_clean": similarity}


def _curve_modes(options: AnalysisOptions) -> tuple:
    """The modes `robustness_curves` measures at every ε: all but `transfer`, which is measured at one ε."""
    return tuple(mode for mode in options.modes if mode != "transfer")


def _attack_steps(attackable: dict, options: AnalysisOptions) -> list[tuple]:
    """(gradient passes, forward passes) of every step `robustness_curves` and `transfer_matrices` will make."""
    curves = [attack_passes(name, eps, options.pgd_steps, len(attackable), rule_name(model), _curve_modes(options),
                            options.eps)
              for name in options.attacks for model in attackable.values() for eps in options.eps]
    transfer = [transfer_passes(name, options.pgd_steps, len(attackable))
                for name in options.attacks for _ in attackable] if "transfer" in options.modes else []
    return curves + transfer


def robustness(runs: _Runs, attackable, skipped, data, run_rdms, options: AnalysisOptions, arrays, progress) -> dict:
    """Clean accuracy, accuracy vs ε under every attack and mode, transfer matrices, RDMs under attack;
    `data` is (x_eval, y_eval, representation sample)."""
    x_eval, y_eval, sample = data
    part = {"accuracy": {name: accuracy(model, x_eval, y_eval) for name, model in runs.models.items()}}

    def step(label: str, gradients: float, forwards: float) -> None:
        progress.advance(label, progress.attack_seconds(gradients, forwards))
    curves, _ = robustness_curves(attackable, x_eval, y_eval, options.eps, options.attacks, _curve_modes(options),
                                  options.pgd_steps, options.seed, step)
    measured = "transfer" in options.modes and curves and options.attacks
    at = [transfer_eps_of(curves, options.eps, options.attacks[0])] if measured else []
    transfer = transfer_matrices(attackable, x_eval, y_eval, at, options.attacks, options.pgd_steps, options.seed,
                                 step) if at else {}
    for attack_name, matrix in transfer.items():
        arrays[f"transfer/{attack_name}"] = matrix
    part["robustness"] = {"eps": list(options.eps), "attacks": list(options.attacks), "modes": list(options.modes),
                          "pgd_steps": options.pgd_steps, "curves": curves, "transfer_order": list(attackable),
                          "transfer_eps": at, "transfer_axes": ["eps (transfer_eps)", "source (crafted on)",
                                                                "target (evaluated)"],
                          "skipped": skipped, "note": "feedback mode attacks with the rule's own pseudo-gradient: "
                                                      "it probes gradient masking and is not a robustness measure"}
    with stage("RDMs under attack"):
        part["adversarial_rdm"] = _adversarial_rdms(attackable, sample, run_rdms, options, arrays)
    progress.advance("RDMs under attack", REPRESENTATION_SECONDS)
    return part


def provenance(source: dict, sample, evaluation, options: AnalysisOptions, device) -> dict:
    """What made the analysis: package and library versions, device, samples (from `source`: dataset,
    num_classes, split), seeds and options."""
    split = source["split"]
    return {
        "package": "bioplaus", "version": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": str(device), **device_record(device), "deterministic": True, "tf32": False,
        "dataset": source["dataset"], "num_classes": source["num_classes"],
        "sample": {"split": split, "per_class": options.per_class, "n": len(sample.index), "seed": options.seed},
        "eval_sample": {"split": split, "per_class": options.eval_per_class, "n": len(evaluation.index),
                        "seed": options.seed + 1},
        "seeds": {"embedding": options.seed, "pgd_start": options.seed},
        "options": {"rdm_method": options.rdm_method, "comparison": options.comparison,
                    "label_comparison": options.label_comparison,
                    "embeddings": list(options.embeddings), "snr_eps": options.snr_eps,
                    "embedding_quality": {method: QUALITY[method] for method in options.embeddings},
                    "adversarial_eps": options.adversarial_eps, "bootstrap": options.bootstrap,
                    "allow_unfinished": options.allow_unfinished},
        "feature_mode": "eval mode; CNN/MLP: block outputs after activation (and pooling); SNN: spike counts; "
                        "out: softmax probabilities",
    }


@contextmanager
def _nothing_half_written(out: Path):
    """Remove the files the block wrote into `out` when it fails (a full disk, say): no folder of CSVs without
    its results.json is left behind."""
    before = {p.name for p in out.iterdir()}
    try:
        yield
    except BaseException:
        for path in out.iterdir():
            if path.name not in before:
                path.unlink(missing_ok=True)
        raise


@deterministic_algorithms()
def analyze(run_dirs, out, options: AnalysisOptions | None = None, *, force: bool = False,
            progress: bool | None = None, **overrides) -> Path:
    """Analyse the runs in `run_dirs` (all on one dataset) into the folder `out`; returns its path.

    `options` (default `AnalysisOptions()`), with any of its fields overridden by keyword, e.g.
    `analyze(runs, out, per_class=10, eps=[0, 0.1])`. Runs with PyTorch's deterministic algorithms;
    gradients, attacks and features in full float32. The seconds of each section are recorded in
    results.json's provenance ("seconds").
    """
    times = StageTimes()
    with times.active():
        return _analyze(run_dirs, out, options, force, progress, overrides, times)


def _analyze(run_dirs, out, options, force: bool, progress, overrides: dict, times: StageTimes) -> Path:
    run_dirs = [Path(r) for r in run_dirs]
    dataset = check_runs(run_dirs)
    options = replace(options or AnalysisOptions(), **overrides).resolved(dataset)
    device = resolve_device(options.device)
    with stage("loading"):
        runs = _Runs.from_folders(run_dirs, device)
        check_finished_runs(runs.dirs.values(), runs.done.values(), options.allow_unfinished)
        sample = analysis_sample(dataset, options.per_class, options.seed, options.data_dir)
        evaluation = analysis_sample(dataset, options.eval_per_class, options.seed + 1, options.data_dir)
    source = {"dataset": dataset, "num_classes": dataset_spec(dataset).num_classes, "split": "test"}
    return _analyse(runs, source, (sample, evaluation), options, out, force, progress, times)


def _analyse(runs: _Runs, source: dict, samples, options, out, force: bool, progress, times: StageTimes) -> Path:
    """Every section on `runs` with the representation and evaluation `samples`, written into `out`; `source`
    says where the images come from (dataset, num_classes, split)."""
    sample, evaluation = samples
    device = resolve_device(options.device)
    with stage("loading"):
        x_eval, y_eval = evaluation.images.to(device), evaluation.labels.to(device)
        out = prepare_out(out, force)
        attackable, skipped = _attackable(runs.models, x_eval, y_eval)
    bar = _Progress(len(y_eval), progress)
    bar.plan(len(runs.models), _attack_steps(attackable, options))
    arrays = {"sample/index": sample.index.numpy(), "sample/labels": sample.labels.numpy(),
              "eval/index": evaluation.index.numpy()}
    results = {"dataset": source["dataset"]}
    with stage("features and RDMs"):
        represented, run_rdms = representations(runs, sample, options, arrays, bar)
    results.update(represented)
    with stage("gradient SNR and cosines"):
        results.update(gradients(runs, x_eval, y_eval, options, bar))
    with stage("learning dynamics"):
        results.update(learning_dynamics(runs, options, arrays))
    with stage("attacks"):
        results.update(robustness(runs, attackable, skipped, (x_eval, y_eval, sample), run_rdms, options, arrays,
                                  bar))
    with stage("cost"):
        results["cost"] = cost_section(runs, x_eval, y_eval, results.get("firing", {}), device)
    bar.close()
    results["provenance"] = provenance(source, sample, evaluation, options, device)
    with stage("RSA summary"):
        results["rsa"] = rsa_summary(results, arrays, options.comparison, options.label_comparison)
    with stage("bootstrap"):
        results["stats"] = stats_rows(Analysis(results, arrays), options.bootstrap, options.seed, options.comparison,
                                      options.label_comparison)
    with stage("writing"), _nothing_half_written(out):
        write_stats(out, results["stats"])
        write_tidy_tables(out, results, arrays)  # before results.json, whose presence means the folder is complete
        results["provenance"]["seconds"] = times.record()
        write_results(out, results, arrays)
    return out


@deterministic_algorithms()
def analyze_models(models: dict, images, labels, out, options: AnalysisOptions | None = None, *,
                   layers=None, output=None, rules: dict | None = None, trust_autograd: bool = False,
                   dataset: str = "in memory", force: bool = False, progress: bool | None = None,
                   **overrides) -> Path:
    """`analyze` of networks given as objects {label: network} on the given test `images` [N, C, H, W] in [0, 1]
    and `labels` [N]: the same results.json, arrays.npz and tables, each network's source "in memory" with the
    SHA-256 of its weights; no training history (the figures drawn from it say which they cannot draw).

    A bioplaus network (built, loaded or `trainers.wrap`ped) is analysed whole. Any other module (`foreign`)
    needs `layers` to record and, unless it returns logits, `output` (each one for all, or a dict by label);
    `rules` names the rule each was trained with (legends, colours; default: its label); `trust_autograd`
    confirms its custom autograd Functions (e.g. surrogate spikes) for true-gradient attacks. It has no
    gradient SNR, cosine or feedback-mode attack. `dataset` names the images in the files."""
    if not models:
        raise ConfigError("analyze_models needs at least one network, as {label: network}")
    models = as_analysed(models, layers, output, rules, trust_autograd)
    images, labels = torch.as_tensor(images).float().cpu(), torch.as_tensor(labels).long().cpu()
    check_batch(next(iter(models.values())), images, labels)
    options = replace(options or AnalysisOptions(), **overrides)
    if options.eval_per_class is None:
        options = replace(options, eval_per_class=min(20, int(torch.bincount(labels).min())))
    options, times = options.resolved(dataset), StageTimes()
    with times.active():
        rarest = "given images of the rarest class"
        samples = (sample_of(images, labels, options.per_class, options.seed, "--per-class", rarest),
                   sample_of(images, labels, options.eval_per_class, options.seed + 1, "--eval-per-class", rarest))
        device = resolve_device(options.device)
        runs = _Runs.in_memory({name: model.to(device).eval() for name, model in models.items()})
        source = {"dataset": dataset, "num_classes": int(labels.max()) + 1, "split": "given images"}
        return _analyse(runs, source, samples, options, out, force, progress, times)
