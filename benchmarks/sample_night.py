"""The bundled sample night staged against its own hypnogram: kappa, N1 F1, REM latency, REM share.

Run (from the project root)::

    python benchmarks/sample_night.py [--model DIR] [--night-inputs both|features|image]

Stages ``eeg_vlm.sample_night_path()`` (a simulated Sleep-EDFx-format night from the older, hand-set simulator that
no model trained on) with ``stage_night``, once with the night model and once with the per-epoch stage head alone
(``night_level=False``), and scores both against the ``*-Hypnogram.edf`` beside it, read with
``eeg_vlm.reference.read_reference`` (R&K S3 + S4 = N3; epochs scored ``Movement time`` or ``?`` are left out).
The REM latency is ``NightResult.summary()``'s ``REM_latency_from_onset`` (min after sleep onset; the reference
hypnogram's own is printed too).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`
from eeg_vlm.configuration_eeg_vlm import NIGHT_INPUTS  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model directory or Hub id (default: the embedded model)")
    ap.add_argument("--night-inputs", default=None, choices=NIGHT_INPUTS,
                    help="what the night model reads for this run (default: the model's config.night_inputs)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    from sklearn.metrics import cohen_kappa_score, f1_score

    from eeg_vlm.reference import read_reference
    from eeg_vlm.staging import load_staging_model, sample_night_path, stage_night

    model = load_staging_model(args.model, night_inputs=args.night_inputs)
    psg = sample_night_path()
    hypnogram = next(psg.parent.glob(psg.name.split("-")[0][:-1] + "*-Hypnogram.edf"))
    print(f"{psg.name} against {hypnogram.name}; model {args.model or 'embedded default'}"
          + (f", night_inputs={args.night_inputs!r}" if args.night_inputs else ""))
    ref_latency = None
    for night_level in (True, False):
        result = stage_night(str(psg), model=model, progress=False, night_level=night_level)
        ref = read_reference(hypnogram, n_epochs=len(result.stages), start_datetime=result.start_datetime).stages
        keep = [i for i, s in enumerate(ref) if s is not None]
        truth, pred = [ref[i] for i in keep], [result.stages[i] for i in keep]
        if ref_latency is None:
            # the reference's own latency (an unscored epoch counted as wake: the sample has two, both in sleep)
            ref_latency = dataclasses.replace(result, stages=[s or "W" for s in ref]).summary()[
                "REM_latency_from_onset"]
        stats = result.summary()
        print(f"{'night model' if night_level else 'per-epoch head':<15} n={len(truth)} "
              f"kappa={cohen_kappa_score(truth, pred):.3f} "
              f"N1 F1={f1_score(truth, pred, labels=['N1'], average='macro', zero_division=0):.3f} "
              f"first REM {stats['REM_latency_from_onset']:.1f} min after sleep onset "
              f"(reference {ref_latency:.1f}), REM {stats['%REM']:.1f} % of sleep time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
