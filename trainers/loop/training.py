"""The training loop: one rule's surrogate objective, one backward, one step; run files every epoch.

`train` builds a `TrainingRun` (folder, `RunData`, model, optimisers; resumed from a checkpoint when asked),
then per epoch `run_epoch` (the steps; a signal stops it cleanly with a checkpoint inside the epoch) and
`finish_epoch` (evaluation, cos_bp, replica check, run files).
"""

import math
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from trainers.rules.alignment import block_cosines, weight_alignment
from trainers.nets.build import build_model
from trainers.nets.factories import is_factory, source_record
from trainers.config import TrainConfig
from trainers.data.datasets import (VALIDATION_SEED, channel_stats, dataset_spec, load_dataset, stratified_sample,
                       validation_split)
from trainers.devices import eval_mode, resolve_device
from trainers.loop.distributed import replicas_from_environment
from trainers.errors import BioplausError, BioplausWarning, DivergenceError, Interrupted, RunDirError
from trainers.loop.evaluation import evaluate
from trainers.loop.interrupts import stop_requests
from trainers.loop.memory import check_fits
from trainers.nets.base import forward_parameters
from trainers.loop.optim import make_optimizers
from trainers.precision import device_record, run_numerics
from trainers.store.probes import Dynamics, probe_rdms
from trainers.store.runfiles import (CHECKPOINT, CONFIG, RUN_FILES, check_folder, check_free_space, load_checkpoint,
                       make_writable_folder, read_config, read_metrics, save_checkpoint, write_config, write_metrics)
from trainers.loop.steps import make_steps
from trainers.version import __version__

# Options that may differ between a run and its resumption: where and how it runs and reads data from (and
# the record of where its values came from).
_RESUMABLE_DIFFERENCES = {"device", "data_dir", "sources", "probes_per_class", "cuda_graph"}
# What a run written before an option existed did: runs before the validation split trained on all images.
_BEFORE_OPTION = {"validation": 0.0}


def _prepare_run_dir(run_dir: Path, resume: bool, force: bool) -> bool:
    """Make `run_dir` ready; True when it holds a run to resume. A folder holding only config.json is a
    start that failed before its first checkpoint: it does not count as a run and is replaced."""
    check_folder(run_dir)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing == [CONFIG]:
        (run_dir / CONFIG).unlink()
        existing = []
    if existing and resume:
        return True
    if existing and not force:
        raise RunDirError(f"{run_dir} already holds a run ({', '.join(existing)}); "
                          "pass --resume to continue it or --force to overwrite it")
    make_writable_folder(run_dir)
    for name in existing:  # --force: the user asked to replace these
        (run_dir / name).unlink()
    return False


def _check_same_run(stored: dict, config: TrainConfig, run_dir: Path) -> None:
    """RunDirError unless `config` continues the stored run: the same options, or more --epochs of a run
    with a constant learning rate (a one-cycle schedule's shape is fixed by its number of epochs)."""
    defaults = dict(TrainConfig().to_dict(), **_BEFORE_OPTION)  # options added since the run was written
    extendable = {"epochs"} if config.epochs > stored["epochs"] else set()
    differences = [f"{key}: {stored.get(key, defaults[key])!r} in the run, {value!r} now"
                   for key, value in config.to_dict().items()
                   if key not in _RESUMABLE_DIFFERENCES | extendable and stored.get(key, defaults[key]) != value]
    if differences:
        raise RunDirError(f"cannot resume {run_dir} with different options ({'; '.join(differences)}); "
                          "pass the original options, or --force to start over")
    if extendable and config.schedule != "constant":
        raise RunDirError(f"cannot extend {run_dir} from {stored['epochs']} to {config.epochs} epochs: its one-cycle "
                          "learning-rate schedule was laid out for its epochs; extend only runs trained with "
                          "--schedule constant, or train anew with --force")


def _load_data(config: TrainConfig, device) -> dict:
    """{"train", "validation", "test": (images, labels) on `device`, or None} (batches are then index gathers
    there). The validation slice comes out of the training split before --limit-train subsamples the rest;
    the test split is not read at all unless `config.evaluate_test`."""
    x, y = load_dataset(config.dataset, "train", config.data_dir)
    train_idx, val_idx = validation_split(y, config.validation)
    if config.limit_train is not None and config.limit_train < len(train_idx):
        keep = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(0))[:config.limit_train]
        train_idx = train_idx[keep]
    splits = {"train": (x[train_idx], y[train_idx]), "validation": (x[val_idx], y[val_idx]) if len(val_idx) else None,
              "test": load_dataset(config.dataset, "test", config.data_dir) if config.evaluate_test else None}
    return {name: None if pair is None else tuple(t.to(device) for t in pair) for name, pair in splits.items()}


def _held_out_batch(held_out, per_class: int, num_classes: int):
    """A fixed class-balanced held-out batch (validation, else test) of `per_class` images per class (fewer
    where a class has fewer): where cos_bp, the weight alignment and the probe RDMs are measured."""
    images, labels = held_out
    smallest = int(torch.bincount(labels.cpu(), minlength=num_classes).min())
    per_class = max(1, min(per_class, smallest))
    idx = stratified_sample(labels.cpu(), per_class, seed=0).to(images.device)
    return images[idx], labels[idx]


def _epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of one epoch depends on (seed, epoch) only, so a resumed run sees the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _warn_about_sizes(config: TrainConfig, n: int) -> None:
    """A warning when --limit-train or --batch-size asks for more images than the training split has."""
    if config.limit_train is not None and config.limit_train > n:
        warnings.warn(f"--limit-train {config.limit_train} is more than the {n} training images of "
                      f"{config.dataset}; training on all {n} (config.json records train_images)", BioplausWarning)
    if config.batch_size > n:
        warnings.warn(f"--batch-size {config.batch_size} is more than the {n} training images; every epoch is "
                      f"one step of {n} images (config.json records batch_images)", BioplausWarning)


@torch.no_grad()
def _warn_about_silence(model, images, epoch: int) -> None:
    """A warning for a spiking hidden layer that fired no spike on the held-out batch: the readout then
    sees zeros and DFA-family rules send it no update, so the run sits at chance."""
    with eval_mode(model):  # eval: fixed encoder seed, torch's RNG (and so a resumed run) untouched
        counts = model.record(images).counts
    for name, count in counts.items():
        if int(count.sum()) == 0:
            warnings.warn(f"hidden layer {name} fired no spike on {len(images)} held-out images after epoch "
                          f"{epoch}; it passes nothing on and gets no DFA update (try a larger init_gain, "
                          f"--neuron fast or --encoding direct)", BioplausWarning)


def _run_record(data: "RunData", model, device, batch_size: int) -> dict:
    """What config.json records beside the options: shapes, sizes, hardware, versions and thread count."""
    spec, splits = data.spec, data.splits
    train_images = len(splits["train"][0])
    return dict(input_shape=list(spec.input_shape), num_classes=spec.num_classes, device_used=str(device),
                **device_record(device), bioplaus_version=__version__, torch_version=torch.__version__,
                parameters=sum(p.numel() for _, p in forward_parameters(model)),
                threads=torch.get_num_threads(),  # CPU float results depend on it
                train_images=train_images, validation_seed=VALIDATION_SEED,
                **{f"{split}_images": len(splits[split][0]) if splits[split] else 0 for split in ("validation", "test")},
                batch_images=min(batch_size, train_images), cos_images=len(data.x_align), **(source_record(model.kind) if is_factory(model.kind) else {}))


def _held_out_metrics(model, splits: dict) -> dict:
    """{val_loss, val_acc, test_loss, test_acc} of the held-out splits the run has."""
    held_out = {}
    for split, prefix in (("validation", "val"), ("test", "test")):
        if splits[split] is not None:
            held_out[f"{prefix}_loss"], held_out[f"{prefix}_acc"] = evaluate(model, *splits[split])
    return held_out


def _restore_rng(state: dict, device) -> None:
    """torch's RNG streams (CPU, and the device's on CUDA) as a checkpoint saved them."""
    torch.set_rng_state(state["rng"].cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)


def _diverged(mean_loss: float, epoch: int, step: int, run_dir, lr) -> DivergenceError:
    kept = (f"the checkpoint of epoch {epoch - 1} is kept in {run_dir}" if epoch > 1
            else f"no epoch finished, so {run_dir} holds only {CONFIG} (a rerun replaces it)")
    return DivergenceError(f"training diverged: the loss became {mean_loss} in epoch {epoch} (step {step + 1}); "
                           f"{kept}; lower --lr (now {lr})")


def _start_dynamics(model, held_out, splits: dict, config: TrainConfig, stored: dict | None, continuing: bool):
    """(probes, Dynamics): the probe set, on which the weight alignment and the probe RDMs are measured, and
    the initial (epoch 0) row of dynamics.npz unless the run continues; a resumed run keeps its own number
    of probes (none for a run written before dynamics existed). No probes: (None, None), so neither
    dynamics.npz nor align/ columns."""
    per_class = config.probes_per_class if stored is None else stored.get("probes_per_class", 0)
    if not per_class:
        return None, None
    probes = _held_out_batch(held_out, per_class, model.num_classes)
    dynamics = Dynamics(probes[1].cpu().numpy(), "validation" if splits["validation"] else "test")
    if not continuing:
        dynamics.record(0, probe_rdms(model, probes[0]), weight_alignment(model, probes[0]))
    return probes, dynamics


def _start_sums(totals, partial: dict | None, main: bool) -> "EpochSums":
    """Zeroed `totals`, or the sums of the mid-epoch checkpoint `partial` being resumed (summed over processes
    when written, so the main process takes them over)."""
    sums = EpochSums(*(total.zero_() for total in totals), time.perf_counter())
    if partial is not None:
        sums.first_step, sums.seconds_before = partial["step"], partial["seconds"]
        if main:
            sums.loss.copy_(partial["loss_sum"])
            sums.correct.copy_(partial["correct"])
    return sums


def _check_replicas(digests: list, epoch: int) -> None:
    if len(set(digests)) > 1:
        raise BioplausError(f"the {len(digests)} training processes hold different weights after epoch {epoch}; "
                            "check that every process runs the same bioplaus and torch")


def _interrupted(signum: int, run_dir, where: str) -> Interrupted:
    name = signal.Signals(signum).name
    return Interrupted(f"stopped by {name} {where}; the checkpoint in {run_dir} is saved, "
                       f"continue with --resume", signum)


@dataclass
class EpochSums:
    """Running loss and correct counts of one epoch (this process's share), from `first_step` on."""
    loss: torch.Tensor
    correct: torch.Tensor
    started: float
    first_step: int = 0
    seconds_before: float = 0.0  # of the epoch's part done before a resumed interruption

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started


def _report(bar, replicas, sums: EpochSums, seen: int, where: tuple) -> None:
    """The bar's running loss and accuracy over the `seen` images; DivergenceError once the loss is not finite
    (`where`: epoch, step, run folder and lr, for the message)."""
    mean_loss = replicas.total(sums.loss).item() / seen
    if not math.isfinite(mean_loss):
        bar.close()
        raise _diverged(mean_loss, *where)
    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{replicas.total(sums.correct).item() / seen:.3f}")


def _rng_states(device: torch.device) -> dict:
    """torch's CPU RNG state, and the CUDA one on a GPU: what a checkpoint keeps so a resumed run draws the same."""
    return {"rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _check_room(model, config: TrainConfig, device: torch.device, run_dir: Path | None) -> None:
    """Refuse up front a spiking run that cannot fit in memory, and (in `run_dir`, the main process's) a disk
    without room for the checkpoint: weights and two optimiser moments, twice while model.pt is replaced."""
    if model.spiking:
        check_fits(model, config.batch_size, device)
    if run_dir is not None:
        check_free_space(run_dir, 24 * sum(t.numel() for t in model.state_dict().values()), "the run's checkpoint")


class RunData:
    """The images of one run on its device: the splits, the training tensors and the steps an epoch takes, the
    dataset's spec, and the fixed held-out batch where cos_bp, alignment and probes are measured."""

    def __init__(self, config: TrainConfig, device: torch.device, distributed: bool):
        self.splits = _load_data(config, device)
        self.x_train, self.y_train = self.splits["train"]
        _warn_about_sizes(config, len(self.x_train))
        self.spec = dataset_spec(config.dataset)
        n = len(self.x_train)  # one process: every image, the last batch smaller; several: whole global batches
        self.steps_per_epoch = n // config.batch_size if distributed else -(-n // config.batch_size)
        self.images_per_epoch = min(self.steps_per_epoch * config.batch_size, n)
        self.held_out = self.splits["validation"] or self.splits["test"]
        self.x_align, self.y_align = _held_out_batch(self.held_out, config.cos_batch // self.spec.num_classes,
                                                      self.spec.num_classes)


class TrainingRun:
    """One run being trained, built complete (resumed from its checkpoint where asked): its folder, data, model,
    the rule's objective and step, optimisers, probes and history; `fit` trains the remaining epochs."""

    def __init__(self, config: TrainConfig, run_dir: Path, replicas, progress: bool | None, resume: bool = False,
                 force: bool = False):
        self.config, self.run_dir, self.replicas, self.progress = config, Path(run_dir), replicas, progress
        self.main = replicas.main
        self.rows, self.first_epoch, self.partial = [], 1, None
        self.device = replicas.device(resolve_device(config.device))
        resuming = replicas.on_main(lambda: _prepare_run_dir(self.run_dir, resume, force))
        self.stored = stored = read_config(self.run_dir) if resuming else None
        if stored is not None:
            _check_same_run(stored, config, self.run_dir)
        self.data = data = RunData(config, self.device, replicas.distributed)
        mean, std = (stored["mean"], stored["std"]) if stored else channel_stats(data.x_train.cpu())
        self.model = build_model(config.model, config.rule, data.spec.input_shape, data.spec.num_classes,
                                 seed=config.seed, mean=mean, std=std, **config.model_options).to(self.device)
        _check_room(self.model, config, self.device, self.run_dir if self.main else None)
        self.optimizers = make_optimizers(config, self.model, data.steps_per_epoch)
        self.objective = replicas.objective(self.model, self.model.rule)
        self.step = make_steps(config, self.objective, self.optimizers, data.x_train, data.y_train, self.device,
                               replicas.distributed)
        self.sums = [torch.zeros((), device=self.device) for _ in range(2)]  # one pair per run: a graph adds to it
        torch.manual_seed(config.seed + 1_000_003 * replicas.rank)  # Poisson encoders draw from torch's RNG
        continuing = resuming and (self.run_dir / CHECKPOINT).exists()
        self.probes, self.dynamics = (_start_dynamics(self.model, data.held_out, data.splits, config, stored,
                                                      continuing) if self.main else (None, None))
        if continuing:
            self._resume()
        elif not resuming and self.main:
            write_config(self.run_dir, dict(config.to_dict(), mean=mean, std=std, processes=replicas.world,
                                            **_run_record(data, self.model, self.device, config.batch_size)))

    def _resume(self) -> None:
        """Weights, optimiser state, RNG streams, history and any mid-epoch progress from model.pt."""
        state = load_checkpoint(self.run_dir)  # on the CPU: load_state_dict moves each tensor to its parameter
        self.model.load_state_dict(state["model"])
        self.optimizers.load_state_dict(state)
        if self.main:  # other processes keep their own seeded streams
            _restore_rng(state, self.device)
        self.first_epoch, self.partial = state["epoch"] + 1, state.get("partial")
        self.rows = [row for row in read_metrics(self.run_dir) if row["epoch"] < self.first_epoch]
        if self.dynamics is not None:
            self.dynamics.resume(self.run_dir, self.first_epoch)
        if self.main and self.stored["epochs"] != self.config.epochs:  # --resume --epochs N extends the run
            write_config(self.run_dir, dict(self.stored, epochs=self.config.epochs))

    def save(self, epoch: int, partial: dict | None = None, replica_digests: list | None = None) -> None:
        """Checkpoint after `epoch` complete epochs, plus `partial` progress into the next one (or None);
        `replica_digests` holds each training process's SHA-256 of its model state."""
        if self.dynamics is not None and self.dynamics.rows:  # before model.pt: never behind the checkpoint
            self.dynamics.save(self.run_dir)
        save_checkpoint(self.run_dir, {"epoch": epoch, "partial": partial, "model": self.model.state_dict(),
                                       **_rng_states(self.device), "replica_digests": replica_digests,
                                       **self.optimizers.state_dict()})

    def fit(self) -> None:
        """Every remaining epoch; a signal between epochs stops after the epoch's files are written."""
        with stop_requests() as stop:
            for epoch in range(self.first_epoch, self.config.epochs + 1):
                self.finish_epoch(epoch, self.run_epoch(epoch, stop))
                signum = self.replicas.stop_signal(stop.signum)
                if signum is not None and epoch < self.config.epochs:
                    raise _interrupted(signum, self.run_dir, f"after epoch {epoch}")

    def run_epoch(self, epoch: int, stop) -> EpochSums:
        """The training steps of `epoch` in its seeded order; returns the epoch's running sums."""
        config, replicas, steps = self.config, self.replicas, self.data.steps_per_epoch
        self.model.train()
        order = _epoch_order(config.seed, epoch, len(self.data.x_train)).to(self.device)
        sums, self.partial = _start_sums(self.sums, self.partial, self.main), None
        disable = True if not self.main else None if self.progress is None else not self.progress  # None: a terminal
        bar = tqdm(range(sums.first_step, steps), desc=f"{config.rule} epoch {epoch}/{config.epochs}", unit="batch",
                   leave=False, disable=disable, initial=sums.first_step, total=steps)
        for step in bar:
            idx = replicas.shard(order[step * config.batch_size:(step + 1) * config.batch_size])
            self.step(idx, sums)
            if step % 25 == 0 or step == steps - 1:
                _report(bar, replicas, sums, min((step + 1) * config.batch_size, self.data.images_per_epoch),
                        (epoch, step, self.run_dir, config.lr))
            signum = replicas.stop_signal(stop.signum)
            if signum is not None and step < steps - 1:
                bar.close()
                self._stop_inside(epoch, step, sums, signum)
        bar.close()
        return sums

    def _stop_inside(self, epoch: int, step: int, sums: EpochSums, signum: int) -> None:
        """Checkpoint the epoch's progress after `step` (sums over processes) and raise Interrupted."""
        partial = {"epoch": epoch, "step": step + 1, "loss_sum": self.replicas.total(sums.loss),
                   "correct": self.replicas.total(sums.correct), "seconds": sums.seconds()}
        if self.main:
            self.save(epoch - 1, partial)
        raise _interrupted(signum, self.run_dir, f"in epoch {epoch} after step {step + 1}")

    def finish_epoch(self, epoch: int, sums: EpochSums) -> None:
        """Evaluate, measure cos_bp, check that the replicas agree, and write metrics.csv and model.pt."""
        replicas, images = self.replicas, self.data.images_per_epoch
        replicas.sync_buffers(self.model)
        train_loss, train_acc = (replicas.total(total).item() / images for total in (sums.loss, sums.correct))
        held_out = _held_out_metrics(self.model, self.data.splits)
        cosines = block_cosines(self.model, self.data.x_align, self.data.y_align)
        alignment = {}
        if self.dynamics is not None:  # the main process, with probes
            alignment = weight_alignment(self.model, self.probes[0])
            self.dynamics.record(epoch, probe_rdms(self.model, self.probes[0]), alignment)
        if self.model.spiking and self.main:
            _warn_about_silence(self.model, self.data.x_align, epoch)
        digests = replicas.digests(self.model)
        _check_replicas(digests, epoch)
        self.rows.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, **held_out,
                          "seconds": sums.seconds(), **{f"cos_bp/{name}": value for name, value in cosines.items()},
                          **{f"align/{name}": value for name, value in alignment.items()}})
        if self.main:
            write_metrics(self.run_dir, self.rows)
            self.save(epoch, replica_digests=digests)
            if self.progress is not False:
                tqdm.write(_epoch_line(self.run_dir.name, epoch, self.config.epochs, self.rows[-1]))


def _epoch_line(name: str, epoch: int, epochs: int, row: dict) -> str:
    """The line a finished epoch prints: its training loss and accuracy, the held-out accuracies, its seconds."""
    accuracies = "".join(f" {key} {value:.4f}" for key, value in row.items()
                         if key.endswith("_acc") and key != "train_acc")
    return (f"{name}: epoch {epoch}/{epochs} train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.4f}"
            f"{accuracies} ({row['seconds']:.1f} s)")


def train(config: TrainConfig, out, *, resume: bool = False, force: bool = False,
          progress: bool | None = None) -> Path:
    """Train one run into the folder `out` and return its path (see docs/design.md, "Run files").

    `resume` continues the run in `out` from its last checkpoint and reproduces the uninterrupted
    run; `force` replaces a run already there; `progress` shows tqdm bars (None: on a terminal).
    Seeds torch's global RNG with `config.seed` (Poisson encoders draw from it while training). Runs
    with PyTorch's deterministic algorithms unless `config.deterministic` is False, and in full
    float32 unless `config.tf32` (see `trainers.precision`); both are restored afterwards.
    Under torchrun, trains with DistributedDataParallel (see `trainers.loop.distributed`).
    """
    config = config.resolved()
    replicas = replicas_from_environment(resolve_device(config.device), config.batch_size)
    existed = Path(out).exists()
    try:
        with run_numerics(config.deterministic, config.tf32):
            run = TrainingRun(config, out, replicas, progress, resume, force)
            run.fit()
        return run.run_dir
    except BioplausError:
        if not existed and Path(out).is_dir() and not any(Path(out).iterdir()):
            Path(out).rmdir()  # refused before writing anything: leave no empty folder behind
        raise
    finally:
        replicas.close()
