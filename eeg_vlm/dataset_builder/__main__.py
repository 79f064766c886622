"""Sleep-EDFx dataset builder command line: download, simulate, build.

    python -m eeg_vlm.dataset_builder download --subset sleep-cassette --subjects 0-19 --out data/sleep-edfx
    python -m eeg_vlm.dataset_builder simulate --hypnogram SC4001EC-Hypnogram.edf --out data/sim
    python -m eeg_vlm.dataset_builder simulate --random --subjects 20 --seed 0 --out data/sim
    python -m eeg_vlm.dataset_builder build --source data/sim --out data/sleep-edfx-vlm
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import download as download_mod

EXAMPLES = {
    "download": "python -m eeg_vlm.dataset_builder download --subset sleep-cassette --subjects 0-19 "
                "--out data/sleep-edfx",
    "simulate": "python -m eeg_vlm.dataset_builder simulate --hypnogram SC4001EC-Hypnogram.edf --out data/sim\n  "
                "python -m eeg_vlm.dataset_builder simulate --random --subjects 20 --seed 0 --out data/sim\n  "
                "python -m eeg_vlm.dataset_builder simulate --replay ../shared/data/sleep-edf20-features --out data/replay",
    "build": "python -m eeg_vlm.dataset_builder build --source data/sim --out data/sleep-edfx-vlm "
             "[--push-to-hub you/sleep-edfx-vlm]",
}


def _epilog(name: str) -> str:
    return f"example:\n  {EXAMPLES[name]}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eeg_vlm.dataset_builder",
        description="Sleep-EDFx -> rendered `datasets` dataset with Chain-of-Thought labels.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    d = sub.add_parser("download", help="fetch PSG + hypnogram pairs from PhysioNet (resumable, SHA-256 checked)",
                       epilog=_epilog("download"), formatter_class=raw)
    download_mod.build_parser(d)

    s = sub.add_parser("simulate", help="write Sleep-EDFx-format nights with the simulator",
                       epilog=_epilog("simulate"), formatter_class=raw)
    from ..simulation.__main__ import add_arguments

    add_arguments(s)

    b = sub.add_parser("build", help="render every scored epoch into a datasets.DatasetDict",
                       epilog=_epilog("build"), formatter_class=raw)
    b.add_argument("--source", required=True, help="folder of *-PSG.edf / *-Hypnogram.edf pairs")
    b.add_argument("--out", required=True, help="destination (DatasetDict.save_to_disk)")
    b.add_argument("--channels", nargs="+", default=["EEG Fpz-Cz"], help="channels drawn (default: EEG Fpz-Cz)")
    b.add_argument("--context", type=int, default=1, help="neighbouring epochs drawn per side (default 1)")
    b.add_argument("--num-proc", type=int, default=1, help="nights rendered in parallel (default 1)")
    b.add_argument("--seed", type=int, default=0, help="seed of the subject-wise split (default 0)")
    b.add_argument("--image-processor", default=None,
                   help="a model directory or Hub id whose renderer to use (default: EEGVLMImageProcessor())")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    b.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="publish parquet shards + dataset card")
    b.add_argument("--real", action="store_true", help="with --push-to-hub: the source nights are genuine recordings")
    for p in (d, b):
        p.add_argument("-q", "--quiet", action="store_true", help="hide progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "download":
            paths = download_mod.download(
                subset=args.subset, subjects=args.subjects, out_dir=args.out, base_url=args.base_url,
                nights=download_mod.parse_subjects(args.nights), checksums=args.checksums,
                progress=not (args.quiet or args.no_progress))
            print(f"{len(paths)} files verified in {args.out}")
            return 0
        if args.command == "simulate":
            from ..simulation.__main__ import run

            return run(args)
        from .build import build_dataset

        processor = None
        if args.image_processor:
            from transformers import AutoImageProcessor

            import eeg_vlm  # noqa: F401  (registers the image processor)

            processor = AutoImageProcessor.from_pretrained(args.image_processor)
        dataset = build_dataset(args.source, args.out, channels=args.channels, context=args.context,
                                num_proc=args.num_proc, seed=args.seed, image_processor=processor,
                                progress=not args.quiet, overwrite=args.overwrite)
        print(dataset)
        if args.push_to_hub:
            import json
            from pathlib import Path

            from .hub import push_dataset_to_hub

            config = json.loads((Path(args.out) / "build_config.json").read_text())
            print(push_dataset_to_hub(dataset, args.push_to_hub, build_config=config, simulated=not args.real))
        return 0
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
