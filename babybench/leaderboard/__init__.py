"""Generated leaderboards: result records -> ``leaderboards/<track>.md``, task pages, plots.

Nothing here is edited by hand: :func:`write_track` reads every result record
of a track (``runs_dir()/<track>/*/results/*.json`` plus each run's
``run.json``) and rewrites the pages atomically.
"""

from babybench.leaderboard.collect import RunEntry, collect, list_tracks
from babybench.leaderboard.render import LAYOUTS, render_task_page, render_track, write_track
from babybench.leaderboard.significance import paired_bootstrap

__all__ = ["RunEntry", "collect", "list_tracks", "LAYOUTS", "render_track", "render_task_page",
           "write_track", "paired_bootstrap"]
