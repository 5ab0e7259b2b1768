"""``babybench leaderboard [TRACK] [--all]``: rewrite the generated leaderboard pages."""

from __future__ import annotations

import argparse

from babybench.errors import BabybenchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("track", nargs="?", help="track to render (e.g. demo, strict-small)")
    parser.add_argument("--all", action="store_true", help="every track that has result records")
    parser.add_argument("--out", default=None, help="output folder (default: leaderboards/ of the repo)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args: argparse.Namespace) -> int:
    from babybench.leaderboard.collect import list_tracks
    from babybench.leaderboard.render import write_track

    if args.all:
        tracks = list_tracks()
    elif args.track:
        tracks = [args.track]
    else:
        raise BabybenchError("name a track (babybench leaderboard demo) or pass --all")
    if not tracks:
        print("no result records found; run `babybench evaluate` first")
        return 0
    for track in tracks:
        paths = write_track(track, out_dir=args.out, plots=not args.no_plots)
        print(f"{track}: wrote {len(paths)} files, e.g. {paths[0]}")
    return 0
