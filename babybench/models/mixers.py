"""The mixer registry: one pattern character -> one sequence-mixer class.

Every mixer file registers its class here with ``@MIXERS.register("<char>")``.
The mixer interface (shared by every family):

- ``__init__(self, cfg: ModelConfig, layer_idx: int)``: read ``cfg.d_model``,
  ``cfg.n_heads`` and the mixer's own options through
  ``cfg.mixer_opts("<char>", key=default, ...)`` (unknown keys are an error).
- ``forward(self, x, state=None, return_state=False) -> (y, new_state)`` with
  ``x, y`` of shape (B, T, D). ``state=None`` means a zero initial state; T may
  be 1 (decoding); ``new_state`` may be None when ``return_state`` is False.

Optional class attributes / methods:

- ``has_mlp: bool = False``: the mixer carries its own MLP / up-projection
  (xLSTM's mLSTM block), so the block skips its SwiGLU MLP.
- ``residual_proj_names: tuple[str, ...]``: names of the ``nn.Linear`` layers
  that write into the residual stream; they get the scaled GPT-2 init
  (std / sqrt(2 * n_layers)). Default ``("out_proj",)``.
- ``param_count(cls, cfg, layer_idx) -> int`` (classmethod): the analytic
  parameter count; ``ModelConfig.predicted_params`` uses it, and a test checks
  it against the built module. Without it, the count is taken from a mixer
  built on the meta device.
"""

from __future__ import annotations

from babybench.registry import Registry

MIXERS = Registry("mixer")
