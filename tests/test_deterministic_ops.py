"""A training step of every model and rule uses no operation that lacks a deterministic CUDA kernel.

On a GPU, `torch.use_deterministic_algorithms(True)` makes such an operation raise mid-run; on the CPU it never
does, so the step's aten operations are logged here (a dispatch mode sees forward and backward alike) and
compared with torch's documented list. Operations that torch makes deterministic by switching kernels
(convolutions, index_select's backward, ...) are allowed; those accumulating by atomic adds are not used either,
since under --nondeterministic they make two runs of one seed differ."""

import inspect
import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from test_steps import BATCH, PAIRS, tiny_steps

# torch.use_deterministic_algorithms's documentation, "will throw a RuntimeError when mode=True": each entry as
# the aten operations a dispatch mode sees, listed whatever their arguments (conservative). Entries that older
# torch versions list (MaxPool3d, ReplicationPad, kthvalue) are kept: the GPU machine runs torch 2.11.
NO_DETERMINISTIC_CUDA_KERNEL = {
    "torch.nn.AvgPool3d": {"avg_pool3d_backward"},
    "torch.nn.AdaptiveAvgPool2d": {"_adaptive_avg_pool2d_backward"},
    "torch.nn.AdaptiveAvgPool3d": {"_adaptive_avg_pool3d_backward"},
    "torch.nn.AdaptiveMaxPool2d": {"adaptive_max_pool2d_backward"},
    "torch.nn.FractionalMaxPool2d": {"fractional_max_pool2d_backward"},
    "torch.nn.FractionalMaxPool3d": {"fractional_max_pool3d_backward"},
    "torch.nn.MaxPool3d": {"max_pool3d_with_indices_backward"},
    "torch.nn.MaxUnpool1d": {"max_unpool2d"},
    "torch.nn.MaxUnpool2d": {"max_unpool2d"},
    "torch.nn.MaxUnpool3d": {"max_unpool3d"},
    "torch.nn.functional.interpolate": {"upsample_linear1d_backward", "upsample_bilinear2d_backward",
                                        "upsample_bicubic2d_backward", "upsample_trilinear3d_backward",
                                        "_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"},
    "torch.nn.ReflectionPad1d": {"reflection_pad1d_backward"},
    "torch.nn.ReflectionPad2d": {"reflection_pad2d_backward"},
    "torch.nn.ReflectionPad3d": {"reflection_pad3d_backward"},
    "torch.nn.ReplicationPad1d": {"replication_pad1d_backward"},
    "torch.nn.ReplicationPad2d": {"replication_pad2d_backward"},
    "torch.nn.ReplicationPad3d": {"replication_pad3d_backward"},
    "torch.nn.NLLLoss": {"nll_loss2d_forward"},  # torch's kernel alerts for the spatial loss; (N, C) is deterministic
    "torch.nn.CTCLoss": {"_ctc_loss_backward"},
    "torch.nn.EmbeddingBag": {"_embedding_bag_backward", "_embedding_bag_dense_backward"},
    "torch.Tensor.put_": {"put_", "put"},
    "torch.histc": {"histc"},
    "torch.bincount": {"bincount"},
    "torch.kthvalue": {"kthvalue"},
    "torch.median": {"median", "nanmedian"},
    "torch.nn.functional.grid_sample": {"grid_sampler_2d_backward", "grid_sampler_3d_backward"},
    "torch.cumsum": {"cumsum", "cumsum_"},
    "torch.Tensor.scatter_reduce": {"scatter_reduce", "scatter_reduce_"},
    "torch.Tensor.resize_": set(),  # quantized tensors only; bioplaus has none
}
NO_KERNEL = set().union(*NO_DETERMINISTIC_CUDA_KERNEL.values())
# Accumulation by atomic adds on CUDA: deterministic only through torch's slower kernels in deterministic mode.
ATOMIC_ACCUMULATION = {"index_add", "index_add_", "scatter_add", "scatter_add_", "index_put", "index_put_",
                       "_index_put_impl_", "embedding_dense_backward", "_embedding_bag_backward"}


def documented_entries() -> list[str]:
    """The names in the installed torch's list of operations that raise in deterministic mode."""
    doc = inspect.getdoc(torch.use_deterministic_algorithms)
    section = doc.split("operations will throw a", 1)[1].split(":\n", 1)[1]
    section = re.split(r"\n\n(?=\S)", section, maxsplit=1)[0]  # up to the next paragraph
    return re.findall(r"^\s*\* :\w+:`([^`]+)`", section, flags=re.M)


class OpLog(TorchDispatchMode):
    """The names of the aten operations run inside it (those of autograd's backward included)."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_the_list_maps_every_entry_torch_documents_to_real_aten_operations():
    documented = documented_entries()
    assert len(documented) >= 20 and "torch.nn.AvgPool3d" in documented  # the section was found
    assert set(documented) <= set(NO_DETERMINISTIC_CUDA_KERNEL), "map the new entries to their aten operations"
    assert all(hasattr(torch.ops.aten, op) for op in NO_KERNEL | ATOMIC_ACCUMULATION)


def test_the_log_sees_a_backward_operation_without_a_deterministic_kernel():
    x = torch.rand(2, 3, 6, 6, requires_grad=True)
    with OpLog() as log:
        F.adaptive_avg_pool2d(x, 2).sum().backward()
    assert log.ops & NO_KERNEL == {"_adaptive_avg_pool2d_backward"}


@pytest.mark.parametrize("model_name, rule", PAIRS)
def test_a_training_step_uses_only_operations_with_a_deterministic_cuda_kernel(model_name, rule):
    step, sums = tiny_steps(model_name, rule)
    with OpLog() as log:  # gather the batch, the rule's objective, backward, the optimiser, the epoch's sums
        step(torch.arange(BATCH), sums)
    assert any(op.endswith(("_backward", "_backward_data")) for op in log.ops)  # backward was seen
    assert log.ops & NO_KERNEL == set()
    assert log.ops & ATOMIC_ACCUMULATION == set()
