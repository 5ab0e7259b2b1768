"""Recurrent kernels: naive references, chunked PyTorch forms and guarded fla paths.

Layout is (B, T, H, D) everywhere. See :mod:`.gla` (HGRN2 and Mamba-2/SSD) and
:mod:`.mlstm` (xLSTM's mLSTM); :mod:`.conv` holds the short causal convolution (:mod:`.conv_triton` its Triton kernels) and
:mod:`.gla_triton` babybench's own Triton kernel of the scalar-decay scan, and
:mod:`.blockdiag_triton` its kernels of xLSTM's block-diagonal q/k/v maps, and :mod:`.lstm_triton`
its persistent kernels of the LSTM recurrence (each imported only when a call runs on it: ``auto``
on CUDA, or ``backend: triton``).
"""
from babybench.models.kernels.conv import causal_conv1d, causal_conv1d_ref, causal_conv1d_silu
from babybench.models.kernels.gla import (
    BACKENDS, fla_available, gla, gla_chunked, gla_recurrent, resolve_backend, triton_available,
    simple_gla, simple_gla_chunked, simple_gla_recurrent,
)
from babybench.models.kernels.mlstm import (
    mlstm, mlstm_chunked, mlstm_gla, mlstm_recurrent, mlstm_zero_state,
)

__all__ = [
    "BACKENDS", "causal_conv1d", "causal_conv1d_ref", "causal_conv1d_silu", "fla_available", "gla", "gla_chunked",
    "gla_recurrent", "mlstm", "mlstm_chunked", "mlstm_gla", "mlstm_recurrent", "mlstm_zero_state",
    "resolve_backend", "simple_gla", "simple_gla_chunked", "simple_gla_recurrent", "triton_available",
]
