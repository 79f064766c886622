"""What the explanations a user gets say: scorer/expert wording, self-consistency, final stage and neighbours.

Run (from the project root)::

    python benchmarks/explanations.py [--model DIR] [--epochs 40] [--ground/--no-ground]

Stages the bundled sample night (``eeg_vlm.sample_night_path()``, a simulated night that no model was trained on)
and explains ``--epochs`` epochs spread evenly over it with ``stage_night(explain=...)``, the path of
``eeg-vlm stage --explain`` and ``eeg-vlm explain``. For the texts as the language model generated them and as
``stage_night`` returns them (``eeg_vlm.reasoning.explanation.night_explanation``), it prints:

- the share of texts that speak of a scorer, an expert or a kept label (goal 0 for the texts shown);
- self-consistency (``eeg_vlm.reasoning.faithfulness.self_consistent``: the final ``Stage:`` follows from the
  numbers the text states, or the text says plainly that it does not);
- the share whose final ``Stage:`` is the stage the night gives the epoch, and whose neighbour stages are the
  night's staged neighbours;
- the faithful-claim rate against the measured epochs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    ap.add_argument("--epochs", type=int, default=40, help="epochs to explain, spread over the night (default 40)")
    ap.add_argument("--ground", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)

    import eeg_vlm
    from eeg_vlm.reasoning.cot import parse_claims, parse_stage
    from eeg_vlm.reasoning.faithfulness import has_scorer_wording, self_consistent
    from eeg_vlm.train import evaluate
    from eeg_vlm.train.grounded_data import spread_indices

    night = eeg_vlm.sample_night_path()
    model = eeg_vlm.staging.load_staging_model(args.model)
    n = len(eeg_vlm.stage_night(night, model=model, progress=False))
    epochs = spread_indices(n, args.epochs)
    generated = []
    original = evaluate.generate_cot

    def keep(*a, **k):  # the texts exactly as generated, before stage_night rewords them
        texts = original(*a, **k)
        generated.extend(texts)
        return texts

    evaluate.generate_cot = keep
    try:
        result = eeg_vlm.stage_night(night, model=model, explain=epochs, ground=args.ground, progress=True)
    finally:
        evaluate.generate_cot = original
    shown = [result.reasoning[i] for i in epochs]
    print(f"{night.name}: {len(epochs)} of {n} epochs explained ({'grounded' if args.ground else 'plain'} prompts), "
          f"model {args.model or 'embedded default'}")
    for name, texts in (("generated", generated), ("shown", shown)):
        judged = [c for c in map(self_consistent, texts) if c is not None]
        final = [parse_stage(t) == result.stages[i] for t, i in zip(texts, epochs)]
        neighbours = []
        for t, i in zip(texts, epochs):
            for c in parse_claims(t):
                if c["type"] in ("prev_stage", "next_stage"):
                    j = i - 1 if c["type"] == "prev_stage" else i + 1
                    neighbours.append(0 <= j < n and c["value"] == result.stages[j])
        print(f"  {name:9s}: scorer/expert wording {np.mean([has_scorer_wording(t) for t in texts]):.3f}, "
              f"self-consistency {np.mean(judged) if judged else float('nan'):.3f} (n={len(judged)}), final Stage: = "
              f"staged stage {np.mean(final):.3f}, neighbour stages = staged neighbours "
              f"{np.mean(neighbours) if neighbours else float('nan'):.3f} (n={len(neighbours)})")
    checked = [c["ok"] for i in epochs for c in result.claims[i] if c["ok"] is not None]
    print(f"  faithful claims (shown texts, against the measured epochs): {np.mean(checked):.3f} (n={len(checked)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
