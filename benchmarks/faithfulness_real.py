"""Faithfulness of the generated Chain-of-Thought on real EEG: DREAMS excerpts 1-4 (evaluation only).

    python benchmarks/faithfulness_real.py [--model DIR] [--every 4] [--ground]

Stages each excerpt with ``stage_night(explain=...)`` on every ``--every``-th scored epoch and checks each claim of
the generated reasoning against the features measured on that epoch (``eeg_vlm.reasoning.faithfulness``). DREAMS has one
EEG channel and no EOG/EMG, so eye-movement and chin-tone claims can only hold when they say the channel is absent.
Nothing from DREAMS is written anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_eeg as dreams  # noqa: E402  (the DREAMS loader)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--every", type=int, default=4, help="explain every N-th scored epoch (default 4)")
    p.add_argument("--ground", action="store_true")
    p.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4])
    args = p.parse_args(argv)
    try:
        dreams.require_dreams()
    except dreams.DreamsMissingError as err:
        print(f"SKIPPED: {err}")
        return 0
    import eeg_vlm
    from eeg_vlm.reasoning.faithfulness import self_consistent

    per_type, consistent, n_texts = {}, [], 0
    for number in args.excerpts:
        ex = dreams.load_excerpt(number)
        chosen = [i for i, s in enumerate(ex.stages) if s is not None][:: args.every]
        result = eeg_vlm.stage_night(ex.signal_uv, sampling_rate=ex.sampling_rate, channel_names=[ex.channel],
                                     model=args.model, explain=chosen, ground=args.ground, progress=False)
        for i in chosen:
            n_texts += 1
            consistent.append(self_consistent(result.reasoning[i]))
            for c in result.claims[i]:
                if c["ok"] is not None:
                    kind = c["type"]
                    ok, n = per_type.get(kind, (0, 0))
                    per_type[kind] = (ok + int(c["ok"]), n + 1)
    total_ok = sum(v[0] for v in per_type.values())
    total = sum(v[1] for v in per_type.values())
    judged = [c for c in consistent if c is not None]
    mode = "grounded" if args.ground else "plain"
    print(f"DREAMS excerpts {args.excerpts}, {n_texts} explained epochs, {mode} prompts")
    print(f"faithful claims: {total_ok / max(total, 1):.3f} (n={total})")
    print(f"self-consistency: {sum(judged) / max(len(judged), 1):.3f} (n={len(judged)})")
    for kind, (ok, n) in sorted(per_type.items()):
        print(f"  {kind:22s} {ok / n:.3f}  (n={n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
