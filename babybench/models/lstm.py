"""``l``: a single-layer ``torch.nn.LSTM`` (cuDNN on GPU) followed by an output projection.

State is ``(h, c)``, each (1, B, D), exactly as ``nn.LSTM`` takes and returns it.
"""

from __future__ import annotations

import torch.nn as nn

from babybench.models.config import ModelConfig
from babybench.models.mixers import MIXERS


@MIXERS.register("l")
class LSTMMixer(nn.Module):
    """LSTM over time, hidden width = d_model, then a linear map back into the residual."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        cfg.mixer_opts("l")
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

    def forward(self, x, state=None, return_state=False):  # x: (B, T, D)
        if x.is_cuda:
            self.lstm.flatten_parameters()  # keep cuDNN's weight buffer contiguous
        h, new_state = self.lstm(x, state)  # h: (B, T, D); state: ((1, B, D), (1, B, D))
        return self.out_proj(h), (new_state if return_state else None)
