"""The run directory, the contract between stages: config.json, metrics.csv, model.pt.

Every write is atomic (temporary file in the same folder, then rename), so an interrupted write
never leaves a half-written file and never destroys the previous good one.
"""

import csv
import hashlib
import io
import json
import math
from pathlib import Path

import torch

from trainers.errors import ConfigError, RunDirError
from trainers.store.files import atomic_write, check_folder, check_free_space, folder_lock, make_writable_folder  # noqa: F401  (part of the run-file API)

CONFIG, METRICS, CHECKPOINT, DYNAMICS = "config.json", "metrics.csv", "model.pt", "dynamics.npz"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, DYNAMICS)
CHECKPOINT_FORMAT = "bioplaus-checkpoint-1"


def write_config(run_dir, config: dict) -> None:
    atomic_write(Path(run_dir) / CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_config(run_dir) -> dict:
    """config.json of a run as a dict; RunDirError if it is missing or unreadable."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a run directory: {CONFIG} is missing; "
                          "pass a folder written by `bioplaus train`")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc}); retrain the run with --force") from None
    _check_stored_config(path, config)
    return config


def _check_stored_config(path: Path, config) -> None:
    """RunDirError when a config.json (edited by hand, say) fails the checks the command line applies."""
    from trainers.config import TrainConfig
    if not isinstance(config, dict):
        raise RunDirError(f"{path} holds {type(config).__name__}, not a run's options; retrain the run with --force")
    try:
        TrainConfig.from_dict(config).validate()
    except (ConfigError, TypeError) as exc:
        raise RunDirError(f"{path} holds an invalid option ({exc}); correct it or retrain the run with --force") \
            from None


def write_metrics(run_dir, rows: list[dict]) -> None:
    """metrics.csv: one row per epoch, columns in the order of the first row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    atomic_write(Path(run_dir) / METRICS, buffer.getvalue())


def read_metrics(run_dir) -> list[dict]:
    """metrics.csv as a list of dicts with numbers parsed (epoch as int, the rest as float)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    try:
        with path.open(newline="") as handle:
            return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
                    for row in csv.DictReader(handle)]
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as exc:  # a row cut short or edited by hand
        raise RunDirError(f"{path} is damaged ({exc}); continue the run with --resume, which rewrites it, "
                          "or retrain it with --force") from None


def on_cpu(value):
    """`value` (tensors in dicts, lists and tuples) with every tensor moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value


def model_slug(model: str) -> str:
    """A model's name as it appears in file names: a factory's "mynets:small_cnn" as "mynets.small_cnn"."""
    return model.replace(":", ".")


def run_name(dataset: str, model: str, rule: str, seed: int) -> str:
    """The folder name `compare` and `reproduce` give a run, so that each reuses the other's runs."""
    return f"{dataset}-{model_slug(model)}-{rule}-s{seed}"


def epochs_done(run_dir) -> int:
    """The epochs a run has finished: those with both their metrics.csv row and their checkpoint written.
    Training writes an epoch's row first and model.pt last, so an epoch cut between the two (a crash, a
    full disk) does not count, and `--resume` redoes it. The one definition every command uses."""
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        return 0
    return min(int(load_checkpoint(run_dir)["epoch"]), len(read_metrics(run_dir)))


def check_finished(run_dir, done: int | None = None) -> int:
    """The run's epochs when it has finished every epoch its config.json plans; else a RunDirError saying how
    far it got and how to continue it. `done`: its `epochs_done`, when already known."""
    planned = read_config(run_dir)["epochs"]
    done = epochs_done(run_dir) if done is None else done
    if done < planned:
        raise RunDirError(f"{run_dir} is unfinished ({done} of {planned} epochs); continue it with `bioplaus train "
                          f"... --out {run_dir} --resume`, or analyse it as it is with --allow-unfinished")
    return done


def finished_run(run_dir, expected: dict) -> bool:
    """Whether `run_dir` holds the complete run `expected` (`TrainConfig.identity()`: what it trains and with
    which values); a run of other options there is a RunDirError, never silently reused."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        return False
    config = read_config(run_dir)
    differences = [f"{key} {config.get(key)!r} there, {value!r} now" for key, value in expected.items()
                   if config.get(key) != value]
    if differences:
        raise RunDirError(f"{run_dir} holds a run of other options ({'; '.join(differences)}; a run without "
                          "validation predates the validation split and recipes); move it away or pass another folder")
    return epochs_done(run_dir) >= expected["epochs"]


def training_cosines(run_dir) -> dict:
    """{"epoch": [...], block: [cos_bp per epoch]} from the run's metrics.csv (measured while training)."""
    rows = read_metrics(run_dir)
    table = {"epoch": [row["epoch"] for row in rows]}
    for key in (rows[0] if rows else {}):
        if key.startswith("cos_bp/"):
            table[key.split("/", 1)[1]] = [row[key] for row in rows]
    return table


def training_history(run_dir) -> dict:
    """{"epoch": [...], "train_loss": [...], "train_acc", "test_loss", "test_acc"} from metrics.csv, plus
    "val_loss" and "val_acc" where the run held out a validation slice (NaN for a split not evaluated)."""
    rows = read_metrics(run_dir)
    keys = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"]
    keys += ["val_loss", "val_acc"] if rows and "val_acc" in rows[0] else []
    return {key: [row.get(key, math.nan) for row in rows] for key in keys}


def state_digest(state: dict) -> str:
    """SHA-256 of a model's state dict (names and tensor bytes, in name order): what a checkpoint's
    `replica_digests` record for the weights each training process held."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(run_dir, state: dict) -> None:
    """model.pt, atomically, with every tensor on the CPU: a run trained on a GPU loads on any machine."""
    buffer = io.BytesIO()
    torch.save(dict(on_cpu(state), format=CHECKPOINT_FORMAT), buffer)
    atomic_write(Path(run_dir) / CHECKPOINT, buffer.getvalue())


def load_checkpoint(run_dir, device="cpu") -> dict:
    """model.pt of a run, loaded with weights_only=True; RunDirError if missing, truncated or foreign."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise RunDirError(f"{path} is missing; the run never finished an epoch, retrain it")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; all mean the same here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunDirError(f"{path} is truncated or not a checkpoint ({reason}); "
                          "retrain the run with --force") from None
    found = state.get("format") if isinstance(state, dict) else None
    if isinstance(found, str) and found.startswith("bioplaus-checkpoint-") and found != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} was written by bioplaus checkpoint format {found.rsplit('-', 1)[1]}; this "
                          f"bioplaus reads format {CHECKPOINT_FORMAT.rsplit('-', 1)[1]}: use the bioplaus version "
                          f"that wrote it (config.json's bioplaus_version), or retrain with --force")
    if found != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} was not written by bioplaus; retrain the run with --force")
    return state
