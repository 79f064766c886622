"""``eeg-vlm``: stage whole nights and explain epochs from the command line.

    eeg-vlm stage --sample --out results/
    eeg-vlm stage night1.edf night2.edf --out results/ [--channel "EEG Fpz-Cz"] [--explain 10,200]
    eeg-vlm explain night.edf --epoch 123
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
from pathlib import Path

EXAMPLES = """examples:
  eeg-vlm stage --sample --out results/            stage the bundled sample night
  eeg-vlm stage NIGHT.edf [MORE.edf ...] --out DIR  write <name>.hypnogram.{csv,edf,png} and <name>.summary.json
  eeg-vlm stage 'nights/*.edf' --explain 10,200     Chain-of-Thought of epochs 10 and 200
  eeg-vlm explain NIGHT.edf --epoch 123             stage-wise reasoning for one epoch"""


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="eeg-vlm", description="Explainable automatic sleep staging (EEG-VLM).",
                                     epilog=EXAMPLES, formatter_class=raw)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("stage", help="stage whole nights and write the hypnogram exports",
                       epilog="example:\n  eeg-vlm stage --sample --out results/\n"
                              "  eeg-vlm stage night.edf --out results/ --explain all", formatter_class=raw)
    s.add_argument("nights", nargs="*", help="EDF/EDF+ files or globs")
    s.add_argument("--sample", action="store_true", help="stage the bundled sample night")
    s.add_argument("--channel", default=None, help="EEG channel name (default: the preference list)")
    s.add_argument("--out", default=None, help="output folder (default: beside each input)")
    s.add_argument("--explain", default=None, help="'all' or comma-separated epoch indices, e.g. 10,200")
    s.add_argument("--model", default=None, help="Hub id or directory (default: the embedded model)")
    s.add_argument("--ground", action=argparse.BooleanOptionalAction, default=True,
                   help="explanations see the epoch's measured features (default; --no-ground: image only)")
    s.add_argument("--overwrite", action="store_true", help="replace existing output files")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the cores idle now, at least 1; see eeg_vlm.threads)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    e = sub.add_parser("explain", help="print the stage-wise reasoning for one epoch",
                       epilog="example:\n  eeg-vlm explain night.edf --epoch 123", formatter_class=raw)
    e.add_argument("night", help="EDF/EDF+ file")
    e.add_argument("--epoch", type=int, required=True, help="epoch index (0 = first 30 s)")
    e.add_argument("--channel", default=None)
    e.add_argument("--model", default=None)
    e.add_argument("--ground", action=argparse.BooleanOptionalAction, default=True,
                   help="put the epoch's measured features into the prompt (default; --no-ground for the image only)")
    e.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores idle now)")
    e.add_argument("-q", "--quiet", action="store_true")
    return parser


def _expand(patterns: list[str]) -> list[Path]:
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise ValueError(f"nights: the pattern {pattern!r} matched no file. Check the path or quote the glob.")
        paths += [Path(m) for m in matches]
    return paths


def _parse_explain(value):
    if value is None:
        return False
    if value.strip().lower() == "all":
        return True
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"--explain: received {value!r}, expected 'all' or epoch indices like 10,200.") from err


def _outputs(night: Path, out: Path | None) -> dict[str, Path]:
    folder = out or night.parent
    stem = night.name[:-4] if night.name.lower().endswith((".edf", ".bdf")) else night.name
    return {kind: folder / f"{stem}.{kind}" for kind in ("hypnogram.csv", "hypnogram.edf", "hypnogram.png",
                                                        "summary.json")}


def _summary_text(name: str, result, summary: dict) -> str:
    counts = ", ".join(f"{s} {result.stages.count(s)}" for s in ("W", "N1", "N2", "N3", "REM", "UNS")
                       if result.stages.count(s))
    return (f"{name}: {len(result)} epochs on {result.channel!r} ({counts})\n"
            f"  TST {summary['TST']:.1f} min, SE {summary['SE']:.1f} %, SOL {summary['SOL']:.1f} min, "
            f"WASO {summary['WASO']:.1f} min, REM latency {summary['Lat_REM']:.1f} min, "
            f"N3 {summary.get('%N3', float('nan')):.1f} %, REM {summary.get('%REM', float('nan')):.1f} %")


def _check_out_folder(out: Path) -> None:
    """Refuse an --out that cannot become a writable folder, without creating anything."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"--out: cannot create the folder {str(out)!r}: {str(existing)!r} is a file, expected a "
                         "writable directory. Choose another --out.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out: cannot write into {str(existing)!r} (permission denied), expected a writable "
                         "directory. Choose another --out, or fix its permissions.")


def _check_night(night: Path, files: dict[str, Path], overwrite: bool) -> None:
    """The input and output checks that need no model: reported before torch is imported."""
    from .io.edf import check_edf_file

    check_edf_file(night, discontinuous_ok=True, needs_signals=True)
    existing = [str(p) for p in files.values() if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"out: {existing[0]} already exists. Pass --overwrite to replace it, or --out DIR.")


def _load_quietly(quiet: bool) -> None:
    """With ``--quiet``, silence transformers' progress bars too (it imports transformers: only after the checks)."""
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar either


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a parent is a file, read-only disk, permissions
        raise ValueError(f"--out: cannot create the folder {str(folder)!r} ({error}), expected a writable "
                         "directory. Choose another --out, or fix the path or its permissions.") from error


def stage_command(args) -> int:
    nights = ([_sample_night()] if args.sample else []) + _expand(args.nights)
    if not nights:
        raise ValueError("nights: received none. Pass EDF files (eeg-vlm stage night.edf) or --sample.")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads: received {args.threads}, expected a positive integer (or leave it unset: "
                         "the cores idle now).")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: received {args.batch_size}, expected a positive integer (e.g. 64).")
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out_folder(out)
    explain = _parse_explain(args.explain)
    failures, ready = 0, []
    for night in nights:  # every check that needs no model runs first, before torch is imported
        try:
            _check_night(night, _outputs(night, out), args.overwrite)
            ready.append(night)
        except ValueError as err:
            failures += 1
            print(f"error: {night}: {err}", file=sys.stderr)
    if not ready:
        return 2

    from tqdm.auto import tqdm

    from .io import write_summary_json
    from .staging import load_staging_model, stage_night

    _load_quietly(args.quiet)
    model = load_staging_model(args.model)  # loaded once for all nights
    for night in tqdm(ready, desc="nights", unit="night", disable=args.quiet or len(ready) == 1):
        files = _outputs(night, out)
        try:
            result = stage_night(night, channel=args.channel, model=model, explain=explain, ground=args.ground,
                                 progress=not args.quiet, batch_size=args.batch_size,
                                 num_threads=args.threads)
            summary = result.summary()
            _make_folder(files["hypnogram.csv"].parent)  # only now: no folder is left behind when nothing is written
            result.to_csv(files["hypnogram.csv"], overwrite=args.overwrite)
            result.to_edf(files["hypnogram.edf"], overwrite=args.overwrite)
            result.plot(files["hypnogram.png"], overwrite=args.overwrite)
            write_summary_json(files["summary.json"], {"file": str(night), "channel": result.channel,
                                                       "n_epochs": len(result), **summary},
                               overwrite=args.overwrite)
        except ValueError as err:
            failures += 1
            print(f"error: {night}: {err}", file=sys.stderr)
            continue
        print(_summary_text(night.name, result, summary))
        for i, text in enumerate(result.reasoning):
            if text:
                print(f"\n--- epoch {i} ({result.stages[i]}) ---\n{text}")
        print("  wrote " + ", ".join(str(p) for p in files.values()))
    return 2 if failures else 0


def _sample_night() -> Path:
    from .staging import sample_night_path

    return sample_night_path()


def explain_command(args) -> int:
    from .io.edf import check_edf_file

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads: received {args.threads}, expected a positive integer (or leave it unset: "
                         "the cores idle now).")
    if args.epoch < 0:
        raise ValueError(f"--epoch: received {args.epoch}, expected an epoch index >= 0 (0 = the first 30 s).")
    check_edf_file(Path(args.night), discontinuous_ok=True, needs_signals=True)  # before torch is imported

    from .staging import stage_night

    _load_quietly(args.quiet)
    result = stage_night(args.night, channel=args.channel, model=args.model, explain=[args.epoch],
                         ground=args.ground, progress=not args.quiet, num_threads=args.threads)
    probs = ", ".join(f"{s} {p:.2f}" for s, p in zip(("W", "N1", "N2", "N3", "REM"), result.probabilities[args.epoch]))
    print(f"epoch {args.epoch} ({args.epoch * result.epoch_sec:.0f} s): stage head {result.stages[args.epoch]} "
          f"({probs})\n")
    print(result.reasoning[args.epoch])
    checked = [c for c in result.claims[args.epoch] if c["ok"] is not None]
    if checked:
        print(f"\nclaims checked against the measured epoch: {sum(c['ok'] for c in checked)}/{len(checked)} hold")
        for c in checked:
            if not c["ok"]:
                print(f"  x {c['text']!r}: measured {c['measured']}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return stage_command(args) if args.command == "stage" else explain_command(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
