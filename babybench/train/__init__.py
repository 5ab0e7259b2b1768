"""babybench training: typed run configs, objectives, a thin loop, resumable runs.

Public API::

    TrainRunConfig, load_track_config(track, overrides, base)   # configs/<track>.yaml
    train(cfg) -> run_dir;  resume(run_dir) -> run_dir
    load_run(run_dir) -> (model, tokenizer, info)
    OBJECTIVES (lm, distill), SCHEDULES (cosine, onecycle, constant)
"""

from babybench.train.config import TrainRunConfig, list_tracks, load_track_config
from babybench.train.loop import resume, train
from babybench.train.objectives import OBJECTIVES
from babybench.train.run import load_run
from babybench.train.schedule import SCHEDULES

__all__ = ["TrainRunConfig", "list_tracks", "load_track_config", "train", "resume", "load_run",
           "OBJECTIVES", "SCHEDULES"]
