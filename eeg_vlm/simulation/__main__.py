"""Simulated Sleep-EDFx-format nights from the command line.

    python -m eeg_vlm.simulation --random --subjects 6 --seed 777 --out data/sim [--first-subject 20]
    python -m eeg_vlm.simulation --hypnogram SC4001EC-Hypnogram.edf --out data/sim
    python -m eeg_vlm.simulation --replay ../shared/data/sleep-edf20-features --out data/replay [--full]
    python -m eeg_vlm.simulation.calibrate            # re-fit the shipped calibration to the real nights

Also reached as ``python -m eeg_vlm.dataset_builder simulate ...`` (same options).
"""

from __future__ import annotations

import argparse
import logging
import sys

EXAMPLE = __doc__.split("\n\n")[1]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--hypnogram", help="a Sleep-EDFx *-Hypnogram.edf whose night to simulate")
    src.add_argument("--random", action="store_true", help="invent plausible hypnograms")
    src.add_argument("--replay", metavar="PATH",
                     help="a Sleep-EDF-20 SCxxxxE0.npz or a folder of them: replay each real night epoch by epoch")
    parser.add_argument("--subjects", type=int, default=1, help="with --random: number of subjects (default 1)")
    parser.add_argument("--first-subject", type=int, default=0,
                        help="with --random: number of the first subject (default 0; e.g. 20 beside replays)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--hours", type=float, default=None, help="with --random: keep only this many hours (tests)")
    parser.add_argument("--full", action="store_true",
                        help="with --replay: every row of the night, not the standard-protocol trim")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="the hand-set generator without the calibrated spectral shaping (comparisons)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("-q", "--quiet", action="store_true", help="hide progress bars")
    return parser


def run(args) -> int:
    from .nights import simulate_from_hypnogram, simulate_random
    from .replay import replay

    calibration = None if args.uncalibrated else "default"
    try:
        if args.replay:
            paths = replay(args.replay, args.out, full=args.full, seed=args.seed, progress=not args.quiet)
        elif args.hypnogram:
            paths = [simulate_from_hypnogram(args.hypnogram, args.out, seed=args.seed, calibration=calibration)]
        else:
            paths = simulate_random(args.out, n_subjects=args.subjects, seed=args.seed, hours=args.hours,
                                    first_subject=args.first_subject, calibration=calibration)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eeg_vlm.simulation", description=__doc__.split("\n\n")[0],
                                     epilog="examples:\n" + EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_arguments(parser).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
