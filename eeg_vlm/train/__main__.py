"""Training command line: sft, evaluate, default-model.

    python -m eeg_vlm.train sft --config eeg_vlm/train/configs/tiny.yaml --dataset DIR --max_steps 2 --output_dir OUT
    python -m eeg_vlm.train evaluate --model OUT --dataset DIR --split test --output_dir OUT/eval
    python -m eeg_vlm.train default-model --out DIR
    python -m eeg_vlm.train night --sim DIR --out DIR [--ablation] [--install]
"""

from __future__ import annotations

import sys

USAGE = __doc__


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "sft":
            from .sft import main as run
        elif command == "evaluate":
            from .evaluate import main as run
        elif command == "default-model":
            from .default_model import main as run
        elif command == "night":
            from .night import main as run
        else:
            print(f"error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
            return 2
        return run(rest)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
