"""``l``: a single-layer ``torch.nn.LSTM`` followed by an output projection.

The recurrence runs in one of two forms, with the same ``nn.LSTM`` weights and maths:
cuDNN (through ``nn.LSTM``; the reference, and every CPU, fp32 or decoding call), or, where
``backend`` resolves to ``triton`` (``auto`` on an H100-class GPU, see ``kernels.resolve_backend``)
and the kernels take the shape, babybench's persistent Triton kernels (:mod:`.kernels.lstm_triton`)
in the autocast dtype.

State is ``(h, c)``, each (1, B, D), exactly as ``nn.LSTM`` takes and returns it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from babybench.models.config import ModelConfig
from babybench.models.kernels import resolve_backend
from babybench.models.mixers import MIXERS


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a CUDA matmul of ``x`` runs in: the autocast dtype where autocast is on."""
    return torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else x.dtype


@MIXERS.register("l")
class LSTMMixer(nn.Module):
    """LSTM over time, hidden width = d_model, then a linear map back into the residual."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        cfg.mixer_opts("l")
        self.backend = cfg.backend
        self.lstm = nn.LSTM(cfg.d_model, cfg.d_model, batch_first=True)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        D = cfg.d_model
        return 8 * D * D + 8 * D + D * D

    def init_weights(self) -> None:
        # Forget-gate bias 1 (gate order i, f, g, o): remember by default.
        D = self.lstm.hidden_size
        for name, p in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                p.data.zero_()
                p.data[D : 2 * D].fill_(1.0)
            elif name.startswith("bias_hh"):
                p.data.zero_()

    def _triton_takes(self, x: torch.Tensor) -> bool:
        if resolve_backend(self.backend, x) != "triton":        # never on the CPU
            return False
        from babybench.models.kernels.lstm_triton import lstm_triton_ok
        return lstm_triton_ok(x, self.lstm.hidden_size, _compute_dtype(x))

    def forward(self, x, state=None, return_state=False):  # x: (B, T, D)
        if self._triton_takes(x):
            from babybench.models.kernels.lstm_triton import lstm_triton
            m = self.lstm
            h0, c0 = (None, None) if state is None else (s[0] for s in state)
            h, (hT, cT) = lstm_triton(x.to(_compute_dtype(x)), m.weight_ih_l0, m.weight_hh_l0,
                                      m.bias_ih_l0, m.bias_hh_l0, h0, c0)
            new_state = (hT[None], cT[None])
        else:
            if x.is_cuda:
                self.lstm.flatten_parameters()  # keep cuDNN's weight buffer contiguous
            if state is not None:               # the kernels' state is (bf16 h, fp32 c)
                state = tuple(s.to(x.dtype) for s in state)
            h, new_state = self.lstm(x, state)  # h: (B, T, D); state: ((1, B, D), (1, B, D))
        return self.out_proj(h), (new_state if return_state else None)
