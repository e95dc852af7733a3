"""The analysis output folder, the contract with the figures: results.json (scalars, per-layer tables,
provenance) and arrays.npz (RDMs, embeddings, path coordinates, transfer matrices).

Both are written atomically, arrays first, so results.json present means the folder is complete.
"""

import io
import json
import math
from pathlib import Path

import numpy as np

from trainers.errors import RunDirError
from trainers.runfiles import atomic_write, check_folder, make_writable_folder

RESULTS, ARRAYS = "results.json", "arrays.npz"
RESULTS_FORMAT = "bioplaus-analysis-1"


def _plain(value):
    """JSON-ready: numpy scalars and arrays to Python; NaN and infinities to null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def prepare_out(out, force: bool) -> Path:
    """Create the output folder; refuse one that holds results unless `force`."""
    out = Path(out)
    check_folder(out)
    existing = [name for name in (RESULTS, ARRAYS) if (out / name).exists()]
    if existing and not force:
        raise RunDirError(f"{out} already holds analysis results ({', '.join(existing)}); "
                          "pass --force to replace them or another --out")
    make_writable_folder(out)
    return out


def write_results(out, results: dict, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: np.asarray(value) for key, value in arrays.items()})
    atomic_write(Path(out) / ARRAYS, buffer.getvalue())
    document = dict(_plain(results), format=RESULTS_FORMAT)
    atomic_write(Path(out) / RESULTS, json.dumps(document, indent=2, allow_nan=False) + "\n")


def read_results(out) -> tuple[dict, dict]:
    """(results.json as a dict, {name: array} of arrays.npz) of an analysis folder."""
    out = Path(out)
    path = out / RESULTS
    if not path.is_file():
        raise RunDirError(f"{out} holds no {RESULTS}; run `bioplaus analyze RUN_DIR... --out {out}` first")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc}); rerun the analysis with --force") from None
    if results.get("format") != RESULTS_FORMAT:
        raise RunDirError(f"{path} was not written by `bioplaus analyze`; rerun the analysis with --force")
    try:
        with np.load(out / ARRAYS) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{out / ARRAYS} is missing or unreadable ({exc}); rerun the analysis with --force") from None
    return results, arrays
