"""The training loop: one rule's surrogate objective, one backward, one step; run files every epoch."""

import math
import signal
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import __version__
from .alignment import block_cosines
from .build import build_model
from .config import TrainConfig
from .datasets import channel_stats, dataset_spec, load_dataset, stratified_sample
from .distributed import replicas_from_environment
from .errors import BioplausError, ConfigError, DivergenceError, Interrupted, RunDirError
from .models import forward_parameters
from .interrupts import stop_requests
from .optim import Optimizers, make_optimizers
from .precision import device_record, run_numerics
from .rules import get_rule
from .runfiles import (CONFIG, RUN_FILES, check_folder, load_checkpoint, make_writable_folder, read_config,
                       read_metrics, save_checkpoint, write_config, write_metrics)

# Options that may differ between a run and its resumption: where it runs and reads data from.
_RESUMABLE_DIFFERENCES = {"device", "data_dir"}


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; pass --device cpu")
    return torch.device(name)


def _prepare_run_dir(run_dir: Path, resume: bool, force: bool) -> bool:
    """Make `run_dir` ready; True when it holds a run to resume."""
    check_folder(run_dir)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
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
    defaults = TrainConfig().to_dict()  # options added since the run was written take their default
    differences = [f"{key}: {stored.get(key, defaults[key])!r} in the run, {value!r} now"
                   for key, value in config.to_dict().items()
                   if key not in _RESUMABLE_DIFFERENCES and stored.get(key, defaults[key]) != value]
    if differences:
        raise RunDirError(f"cannot resume {run_dir} with different options ({'; '.join(differences)}); "
                          "pass the original options, or --force to start over")


def _load_data(config: TrainConfig, device):
    x_train, y_train = load_dataset(config.dataset, "train", config.data_dir)
    x_test, y_test = load_dataset(config.dataset, "test", config.data_dir)
    if config.limit_train is not None and config.limit_train < len(x_train):
        keep = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:config.limit_train]
        x_train, y_train = x_train[keep], y_train[keep]
    return [t.to(device) for t in (x_train, y_train, x_test, y_test)]


def _alignment_batch(x_test, y_test, size: int, num_classes: int):
    """A fixed class-balanced held-out batch on which cos_bp is measured every epoch."""
    smallest = int(torch.bincount(y_test.cpu(), minlength=num_classes).min())
    per_class = max(1, min(size // num_classes, smallest))
    idx = stratified_sample(y_test.cpu(), per_class, seed=0).to(x_test.device)
    return x_test[idx], y_test[idx]


@torch.no_grad()
def evaluate(model, images, labels, batch_size: int = 1000) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` in eval mode."""
    was_training = model.training
    model.eval()
    loss, correct = torch.zeros((), device=images.device), torch.zeros((), device=images.device)
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size])
        target = labels[start:start + batch_size]
        loss += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    model.train(was_training)
    return loss.item() / len(images), correct.item() / len(images)


def _epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of one epoch depends on (seed, epoch) only, so a resumed run sees the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def train_step(objective, optimizers: Optimizers, images, labels):
    """One update: the rule's surrogate objective (a callable (images, labels) -> Objective), one
    backward, a step of every optimiser."""
    result = objective(images, labels)
    optimizers.zero_grad()
    result.surrogate.backward()
    optimizers.step()
    return result


def _save(run_dir, model, optimizers, device, epoch: int, partial: dict | None = None,
          replica_digests: list | None = None) -> None:
    """Checkpoint after `epoch` complete epochs, plus `partial` progress into the next one (or None);
    `replica_digests` holds each training process's SHA-256 of its model state."""
    cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    save_checkpoint(run_dir, {"epoch": epoch, "partial": partial, "model": model.state_dict(),
                              "rng": torch.get_rng_state(), "cuda_rng": cuda_rng, "replica_digests": replica_digests,
                              **optimizers.state_dict()})


def _interrupted(signum: int, run_dir, where: str) -> Interrupted:
    name = signal.Signals(signum).name
    return Interrupted(f"stopped by {name} {where}; the checkpoint in {run_dir} is saved, "
                       f"continue with --resume", signum)


def train(config: TrainConfig, out, *, resume: bool = False, force: bool = False,
          progress: bool | None = None) -> Path:
    """Train one run into the folder `out` and return its path (see DESIGN.md for the files).

    `resume` continues the run in `out` from its last checkpoint and reproduces the uninterrupted
    run on CPU; `force` replaces a run already there; `progress` shows tqdm bars (None: on a terminal).
    Seeds torch's global RNG with `config.seed` (Poisson encoders draw from it while training). Runs
    with PyTorch's deterministic algorithms unless `config.deterministic` is False, and in full
    float32 unless `config.tf32` (see `trainers.precision`); both are restored afterwards.
    Under torchrun, trains with DistributedDataParallel (see `trainers.distributed`).
    """
    config = config.resolved()
    run_dir = Path(out)
    replicas = replicas_from_environment(resolve_device(config.device))
    try:
        with run_numerics(config.deterministic, config.tf32):
            return _train(config, run_dir, resume, force, progress, replicas)
    finally:
        replicas.close()


def _train(config, run_dir, resume, force, progress, replicas) -> Path:
    device = replicas.device(resolve_device(config.device))
    replicas.check_batch(config.batch_size)
    resuming = replicas.on_main(lambda: _prepare_run_dir(run_dir, resume, force))
    stored = read_config(run_dir) if resuming else None
    if stored is not None:
        _check_same_run(stored, config, run_dir)
    x_train, y_train, x_test, y_test = _load_data(config, device)
    spec = dataset_spec(config.dataset)
    mean, std = (stored["mean"], stored["std"]) if stored else channel_stats(x_train.cpu())
    model = build_model(config.model, config.rule, spec.input_shape, spec.num_classes, seed=config.seed,
                        mean=mean, std=std, **config.model_options).to(device)
    rule = get_rule(config.rule)
    # one process: every image, the last batch smaller; several: whole global batches only
    steps_per_epoch = (len(x_train) // config.batch_size if replicas.distributed
                       else -(-len(x_train) // config.batch_size))
    images_per_epoch = min(steps_per_epoch * config.batch_size, len(x_train))
    optimizers = make_optimizers(config, model, steps_per_epoch)
    objective = replicas.objective(model, rule)
    main = replicas.main

    rows, first_epoch, partial = [], 1, None
    torch.manual_seed(config.seed + 1_000_003 * replicas.rank)  # Poisson encoders draw from torch's RNG
    if resuming and (run_dir / "model.pt").exists():
        state = load_checkpoint(run_dir)  # on the CPU: load_state_dict moves each tensor to its parameter
        model.load_state_dict(state["model"])
        optimizers.load_state_dict(state)
        if main:  # other processes keep their own seeded streams
            torch.set_rng_state(state["rng"].cpu())
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        first_epoch, partial = state["epoch"] + 1, state.get("partial")
        rows = [row for row in read_metrics(run_dir) if row["epoch"] < first_epoch]
    elif not resuming and main:
        write_config(run_dir, dict(config.to_dict(), input_shape=list(spec.input_shape),
                                   num_classes=spec.num_classes, mean=mean, std=std,
                                   device_used=str(device), **device_record(device),
                                   bioplaus_version=__version__,
                                   torch_version=torch.__version__, processes=replicas.world,
                                   parameters=sum(p.numel() for _, p in forward_parameters(model))))

    x_align, y_align = _alignment_batch(x_test, y_test, config.cos_batch, spec.num_classes)
    disable_bar = True if not main else None if progress is None else not progress  # None: on a terminal
    with stop_requests() as stop:
        for epoch in range(first_epoch, config.epochs + 1):
            started = time.perf_counter()
            model.train()
            order = _epoch_order(config.seed, epoch, len(x_train)).to(device)
            # a checkpoint written mid-epoch (on a signal) carries the epoch's step and running sums,
            # summed over processes (so rank 0 takes them over)
            first_step, before = 0, 0.0
            loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
            if partial is not None:
                first_step, before = partial["step"], partial["seconds"]
                if main:
                    loss_sum, correct = partial["loss_sum"].to(device), partial["correct"].to(device)
                partial = None
            bar = tqdm(range(first_step, steps_per_epoch), desc=f"{config.rule} epoch {epoch}/{config.epochs}",
                       unit="batch", leave=False, disable=disable_bar, initial=first_step, total=steps_per_epoch)
            for step in bar:
                idx = replicas.shard(order[step * config.batch_size:(step + 1) * config.batch_size])
                images, labels = x_train[idx], y_train[idx]
                result = train_step(objective, optimizers, images, labels)
                loss_sum += result.loss.detach() * len(idx)
                correct += (result.logits.detach().argmax(1) == labels).sum()
                if step % 25 == 0 or step == steps_per_epoch - 1:
                    seen = min((step + 1) * config.batch_size, images_per_epoch)
                    mean_loss = replicas.total(loss_sum).item() / seen
                    if not math.isfinite(mean_loss):
                        bar.close()
                        kept = (f"the checkpoint of epoch {epoch - 1} is kept in {run_dir}" if epoch > 1
                                else f"no epoch finished, so {run_dir} holds only {CONFIG}")
                        raise DivergenceError(f"training diverged: the loss became {mean_loss} in epoch {epoch} "
                                              f"(step {step + 1}); {kept}; lower --lr (now {config.lr})")
                    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{replicas.total(correct).item() / seen:.3f}")
                signum = replicas.stop_signal(stop.signum)
                if signum is not None and step < steps_per_epoch - 1:
                    bar.close()
                    partial = {"epoch": epoch, "step": step + 1, "loss_sum": replicas.total(loss_sum),
                               "correct": replicas.total(correct), "seconds": before + time.perf_counter() - started}
                    if main:
                        _save(run_dir, model, optimizers, device, epoch - 1, partial)
                    raise _interrupted(signum, run_dir, f"in epoch {epoch} after step {step + 1}")
            bar.close()
            replicas.sync_buffers(model)
            train_loss = replicas.total(loss_sum).item() / images_per_epoch
            train_acc = replicas.total(correct).item() / images_per_epoch
            test_loss, test_acc = evaluate(model, x_test, y_test)
            cosines = block_cosines(model, x_align, y_align)
            digests = replicas.digests(model)
            if len(set(digests)) > 1:
                raise BioplausError(f"the {replicas.world} training processes hold different weights after epoch "
                                    f"{epoch}; check that every process runs the same bioplaus and torch")
            rows.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss,
                         "test_acc": test_acc, "seconds": before + time.perf_counter() - started,
                         **{f"cos_bp/{name}": value for name, value in cosines.items()}})
            if main:
                write_metrics(run_dir, rows)
                _save(run_dir, model, optimizers, device, epoch, replica_digests=digests)
            if progress is not False and main:
                tqdm.write(f"{run_dir.name}: epoch {epoch}/{config.epochs} train_loss {train_loss:.4f} "
                           f"train_acc {train_acc:.4f} test_acc {test_acc:.4f} ({rows[-1]['seconds']:.1f} s)")
            signum = replicas.stop_signal(stop.signum)
            if signum is not None and epoch < config.epochs:
                raise _interrupted(signum, run_dir, f"after epoch {epoch}")
    return run_dir
