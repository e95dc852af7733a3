"""Numerical settings of a run or a measurement: float32 precision (TF32 only when asked) and PyTorch's
deterministic algorithms, each a context manager that restores what it found.

On an Ampere-or-later GPU, cuDNN convolutions use TF32 (10 mantissa bits) by default: gradient SNR,
cosines and attack gradients computed that way differ from their CPU values in the third digit.
Importing this module (`import trainers` does, first) sets CUBLAS_WORKSPACE_CONFIG for the process.
"""

import os
from contextlib import contextmanager

import torch

from trainers.errors import ConfigError

# The float32 settings of torch >= 2.9 ("ieee" = full float32, "tf32"), one per backend and operation.
_FP32_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv", "mkldnn.rnn")
_CUDA_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")
# cuBLAS is deterministic only with one of these workspace settings (CUDA >= 10.2).
DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")


def _backend(path: str):
    obj = torch.backends
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _new_api() -> bool:
    return hasattr(torch.backends, "fp32_precision")


def fp32_precisions() -> dict:
    """{backend: float32 precision}: "ieee" (full), "tf32" or another value torch allows ("none":
    as the parent setting). Torch before 2.9: the two TF32 switches and the matmul precision."""
    if _new_api():
        return {path: _backend(path).fp32_precision for path in _FP32_BACKENDS}
    return {"cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def _legacy_switches() -> dict | None:
    """torch's pre-2.9 switches, kept beside the per-backend settings: cuDNN's allow_tf32 and the matmul
    precision (which cuBLAS's allow_tf32 follows). None where they contradict the per-backend settings
    (torch then raises on reading them: "mix of the legacy and new APIs")."""
    try:
        return {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                "float32_matmul_precision": torch.get_float32_matmul_precision()}
    except RuntimeError:
        return None


def _fp32_state() -> tuple:
    """What `float32_precision` restores: the per-backend settings and, on torch >= 2.9, the legacy switches."""
    return fp32_precisions(), _legacy_switches() if _new_api() else None


def _set_fp32_state(settings: dict, legacy: dict | None) -> None:
    """The legacy switches first (their setters also write per-backend settings), then every per-backend one,
    so that both agree and torch's legacy getters keep answering."""
    if legacy is not None:
        torch.backends.cudnn.allow_tf32 = legacy["cudnn.allow_tf32"]
        torch.set_float32_matmul_precision(legacy["float32_matmul_precision"])
    _set_fp32_precisions(settings)


def _set_fp32_precisions(settings: dict) -> None:
    if _new_api():
        for path, value in settings.items():
            _backend(path).fp32_precision = value
        return
    torch.backends.cuda.matmul.allow_tf32 = settings["cuda.matmul.allow_tf32"]
    torch.backends.cudnn.allow_tf32 = settings["cudnn.allow_tf32"]
    torch.set_float32_matmul_precision(settings["float32_matmul_precision"])


def _precision_settings(tf32: bool) -> dict:
    if _new_api():  # TF32 only on the CUDA backends; the CPU's oneDNN always at full precision
        return {path: "tf32" if tf32 and path in _CUDA_BACKENDS else "ieee" for path in _FP32_BACKENDS}
    return {"cuda.matmul.allow_tf32": tf32, "cudnn.allow_tf32": tf32,
            "float32_matmul_precision": "high" if tf32 else "highest"}


@contextmanager
def float32_precision(tf32: bool = False):
    """float32 matrix products and convolutions in full precision (TF32 where `tf32`), then the
    settings found on entry again."""
    saved = _fp32_state()
    legacy = {"cudnn.allow_tf32": tf32, "float32_matmul_precision": "high" if tf32 else "highest"}
    _set_fp32_state(_precision_settings(tf32), legacy if _new_api() else None)
    try:
        yield
    finally:
        _set_fp32_state(*saved)


def full_precision():
    """Where bioplaus measures (gradient SNR, cosine to BP, attack gradients, features): no TF32."""
    return float32_precision(tf32=False)


def determinism_state() -> dict:
    """PyTorch's switches that decide whether CUDA kernels may be nondeterministic."""
    return {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "fill_uninitialized_memory": torch.utils.deterministic.fill_uninitialized_memory,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark}


def _set_determinism(state: dict) -> None:
    torch.use_deterministic_algorithms(state["deterministic_algorithms"], warn_only=state["warn_only"])
    torch.utils.deterministic.fill_uninitialized_memory = state["fill_uninitialized_memory"]
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]


def fix_cublas_workspace() -> bool:
    """Set CUBLAS_WORKSPACE_CONFIG to a deterministic workspace unless the user set it; called when trainers
    is imported, because torch decides at its first cuBLAS call whether cuBLAS is deterministic and keeps
    that answer. True when cuBLAS is deterministic from the process's start (CUDA was not initialised yet,
    or the user set the value)."""
    user_set = "CUBLAS_WORKSPACE_CONFIG" in os.environ
    if not user_set:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = DETERMINISTIC_CUBLAS[0]
    early = user_set or not torch.cuda.is_initialized()
    return early and os.environ["CUBLAS_WORKSPACE_CONFIG"] in DETERMINISTIC_CUBLAS


CUBLAS_DETERMINISTIC_FROM_START = fix_cublas_workspace()


def check_cublas_workspace() -> None:
    """ConfigError when CUBLAS_WORKSPACE_CONFIG is set to a value with which cuBLAS is not deterministic, or
    when CUDA was initialised before the value was deterministic (torch's cuBLAS check then fails later)."""
    value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if value is not None and value not in DETERMINISTIC_CUBLAS:
        raise ConfigError(f"CUBLAS_WORKSPACE_CONFIG={value} makes cuBLAS nondeterministic; unset it, set it to "
                          f"{DETERMINISTIC_CUBLAS[0]}, or pass --nondeterministic")
    if torch.cuda.is_initialized() and not CUBLAS_DETERMINISTIC_FROM_START:
        raise ConfigError("CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was deterministic, so cuBLAS cannot be "
                          "deterministic in this process; import trainers before any CUDA work, start Python with "
                          f"CUBLAS_WORKSPACE_CONFIG={DETERMINISTIC_CUBLAS[0]}, or pass --nondeterministic")


@contextmanager
def deterministic_algorithms(enabled: bool = True):
    """PyTorch's deterministic algorithms (cuDNN without autotuning, cuBLAS with a fixed workspace) when
    `enabled`, so that a seed fixes a CUDA run; the switches found on entry are restored on exit.

    CUBLAS_WORKSPACE_CONFIG was set (if unset) when trainers was imported (`fix_cublas_workspace`); a
    ConfigError refuses a process whose cuBLAS cannot be deterministic any more. New tensors
    are not filled with NaN (PyTorch's default in this mode): bioplaus never reads memory it did not
    write, and the fill cost 15 % of an analysis on the CPU."""
    saved = determinism_state()
    if enabled:
        check_cublas_workspace()
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", DETERMINISTIC_CUBLAS[0])
        _set_determinism({"deterministic_algorithms": True, "warn_only": False, "fill_uninitialized_memory": False,
                          "cudnn_deterministic": True, "cudnn_benchmark": False})
    try:
        yield
    finally:
        _set_determinism(saved)


@contextmanager
def run_numerics(deterministic: bool = True, tf32: bool = False):
    """The numerical settings of a training run: deterministic algorithms unless opted out, TF32 only if asked."""
    with deterministic_algorithms(deterministic), float32_precision(tf32):
        yield


def device_record(device: torch.device) -> dict:
    """What config.json records of the hardware and libraries a run computed on."""
    record = {"device_name": "cpu", "cuda_version": torch.version.cuda,
              "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    if device.type == "cuda":
        record["device_name"] = torch.cuda.get_device_name(device)
    return record
