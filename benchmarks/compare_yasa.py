"""EEG-VLM against YASA's and GSSC's shipped classifiers on the DREAMS excerpts 1-4 (expert 30-s stages).

Run (from the project root)::

    python benchmarks/compare_yasa.py [--model DIR] [--night-inputs both|features|image] [--excerpts 1 2 3 4]
        [--methods EEG-VLM YASA GSSC] [--json OUT.json]

GSSC is a benchmark-only dependency; install it without its dependency list so it cannot replace the CPU torch
(without it the script prints this command and compares EEG-VLM and YASA)::

    pip install --no-deps gssc==0.0.9 "importlib-resources>=5"

Every method sees the same single EEG channel (C3-A1 or CZ-A1) of each 30-minute excerpt, with no EOG or EMG.
- EEG-VLM: ``eeg_vlm.stage_night`` on the array in uV at its native rate (100/200/50/200 Hz); the model
  resamples to 100 Hz itself. ``--model`` is a saved model directory or Hub id (default: the embedded model).
- YASA 0.8.1: ``yasa.SleepStaging(raw, eeg_name=...)`` on an ``mne.io.RawArray`` in volts, EEG only. YASA refuses
  rates <= 80 Hz, so excerpt 3 (50 Hz) is first upsampled to 100 Hz with ``scipy.signal.resample_poly`` (that adds
  no content above 25 Hz); YASA resamples every other rate to 100 Hz itself.
- GSSC 0.0.9 (Greifswald Sleep Stage Classifier, pretrained on real PSGs): ``EEGInfer.mne_infer`` with the EEG
  channel and no EOG, on an ``mne.io.RawArray`` in volts at the native rate; it band-passes 0.3-30 Hz (0.3 Hz and
  the 25 Hz Nyquist limit for excerpt 3) and resamples each epoch to 2560 samples itself. ``gssc_adapter.py`` loads
  its pickled networks with ``weights_only=False``, swaps in a numpy version of its vote and pads one sample so it
  keeps the last epoch (details there). Its torch thread count is chosen as EEG-VLM's (``eeg_vlm.threads``).
The expert labels are the majority of six 5-s R&K labels (S3 + S4 = N3); epochs with an unknown stage are
excluded, and an epoch a method leaves unscored counts as an error. Macro-F1 averages the stages present in the
truth or the predictions (sklearn's default). DREAMS excerpts have no REM.

DREAMS is CC BY-NC-ND and is never used for training: this script reads ../shared/data/dreams-spindles at run
time and prints metrics only (``--json`` writes the same metrics, never signals or images).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gssc_adapter  # noqa: E402  (GSSC, benchmark-only)
import real_eeg as dreams  # noqa: E402  (the DREAMS loader)
from eeg_vlm.configuration_eeg_vlm import NIGHT_INPUTS  # noqa: E402

STAGES = dreams.STAGES
YASA_MIN_RATE = 100  # Hz; YASA asserts sfreq > 80 and works at 100 Hz, so slower excerpts are upsampled to 100
YASA_TO_AASM = {"WAKE": "W", "W": "W", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "REM", "R": "REM"}
METHODS = ("EEG-VLM", "YASA", "GSSC")


def metrics(y_true, y_pred) -> dict:
    """Accuracy, macro-F1 and Cohen's kappa (sklearn), with ``n`` epochs; predictions may hold ``"UNS"``."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    y_true, y_pred = list(y_true), list(y_pred)
    if not y_true:
        return {"n": 0, "accuracy": float("nan"), "macro_f1": float("nan"), "cohen_kappa": float("nan")}
    labels = [s for s in STAGES if s in set(y_true) | set(y_pred)]  # stages present; an unscored epoch is an error
    return {"n": len(y_true), "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "cohen_kappa": float(cohen_kappa_score(y_true, y_pred))}


def recall_per_stage(y_true, y_pred) -> dict:
    """``{stage: (recall, support)}``; recall is NaN for a stage with no true epoch."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    out = {}
    for s in STAGES:
        mask = y_true == s
        out[s] = (float((y_pred[mask] == s).mean()) if mask.any() else float("nan"), int(mask.sum()))
    return out


def stage_eeg_vlm(ex: dreams.Excerpt, model) -> list:
    import eeg_vlm

    result = eeg_vlm.stage_night(ex.signal_uv, sampling_rate=ex.sampling_rate, channel_names=[ex.channel],
                                 model=model, progress=False)
    return list(result.stages)


def stage_yasa(ex: dreams.Excerpt) -> tuple[list, str]:
    """YASA's stages and a note on what was done to the signal."""
    import mne
    import yasa
    from scipy.signal import resample_poly

    signal, fs, note = ex.signal_uv, ex.sampling_rate, ""
    if fs < YASA_MIN_RATE:
        up = int(YASA_MIN_RATE // np.gcd(int(YASA_MIN_RATE), int(fs)))
        down = int(fs // np.gcd(int(YASA_MIN_RATE), int(fs)))
        signal, fs = resample_poly(signal, up, down), float(YASA_MIN_RATE)
        note = f"upsampled {ex.sampling_rate:g} -> {fs:g} Hz (resample_poly) for YASA"
    info = mne.create_info([ex.channel], fs, ch_types="eeg", verbose="error")
    raw = mne.io.RawArray(signal[None, :] * 1e-6, info, verbose="error")  # YASA expects volts
    with warnings.catch_warnings():
        # YASA 0.8.1 unpickles a LabelEncoder saved by sklearn 0.24: harmless, said once in the report instead
        warnings.filterwarnings("ignore", message="Trying to unpickle estimator")
        hyp = yasa.SleepStaging(raw, eeg_name=ex.channel).predict()
    stages = [YASA_TO_AASM[str(s).upper()] for s in np.asarray(hyp.hypno)]
    return stages, note


def stage_gssc(ex: dreams.Excerpt, infer) -> tuple[list, str]:
    """GSSC's stages (torch threads chosen as for EEG-VLM) and a note on what differs from its training."""
    import torch

    from eeg_vlm.threads import torch_threads

    with torch_threads(), torch.inference_mode():
        return gssc_adapter.stage_gssc(ex.signal_uv, ex.sampling_rate, ex.channel, infer)


def run(excerpts, model, methods=METHODS, night_inputs=None) -> dict:
    """Metrics of ``methods`` (names from :data:`METHODS`, all available) on the DREAMS ``excerpts``.
    ``night_inputs``: what EEG-VLM's night model reads for this run (``load_staging_model(..., night_inputs=)``,
    a copy; None: as saved)."""
    import eeg_vlm

    methods = tuple(methods)
    out = {"excerpts": {}, "methods": list(methods), "model_load_sec": None, "gssc_load_sec": None}
    if "EEG-VLM" in methods:
        t0 = time.perf_counter()
        model = eeg_vlm.staging.load_staging_model(None if model is None else str(model),  # once, for every excerpt
                                                   night_inputs=night_inputs)
        out["model_load_sec"] = time.perf_counter() - t0
    if "GSSC" in methods:
        t0 = time.perf_counter()
        gssc_infer = gssc_adapter.load_gssc()  # its two networks, once
        out["gssc_load_sec"] = time.perf_counter() - t0
    pooled = {m: ([], []) for m in methods}
    for number in excerpts:
        ex = dreams.load_excerpt(number)
        truth = np.array(ex.stages, dtype=object)
        keep = ex.scored
        row = {"channel": ex.channel, "sampling_rate": ex.sampling_rate, "n_epochs": ex.n_epochs,
               "n_excluded_unknown": int((~keep).sum())}
        for method in methods:
            t0 = time.perf_counter()
            if method == "EEG-VLM":
                pred, note = stage_eeg_vlm(ex, model), ""
            elif method == "GSSC":
                pred, note = stage_gssc(ex, gssc_infer)
            else:
                pred, note = stage_yasa(ex)
            sec = time.perf_counter() - t0
            if len(pred) != ex.n_epochs:
                raise ValueError(f"{method} returned {len(pred)} epochs for excerpt{number}, expected {ex.n_epochs}.")
            y_true, y_pred = list(truth[keep]), list(np.array(pred, dtype=object)[keep])
            m = metrics(y_true, y_pred)
            m.update(seconds=sec, n_unscored=sum(p not in STAGES for p in y_pred), note=note)
            row[method] = m
            pooled[method][0].extend(y_true)
            pooled[method][1].extend(y_pred)
        out["excerpts"][f"excerpt{number}"] = row
    out["pooled"] = {method: {**metrics(*pooled[method]),
                              "recall": {s: r for s, (r, _) in recall_per_stage(*pooled[method]).items()},
                              "predicted": {s: pooled[method][1].count(s) for s in (*STAGES, "UNS")},
                              "confusion": {t: {s: sum(1 for a, b in zip(*pooled[method]) if a == t and b == s)
                                                for s in (*STAGES, "UNS")} for t in STAGES}}
                     for method in methods}
    out["support"] = {s: n for s, (_, n) in recall_per_stage(*pooled[methods[0]]).items()}
    return out


def _fmt(x, spec=".3f") -> str:
    return "  n/a" if x != x else format(x, spec)


def print_report(res: dict, model_label: str) -> None:
    methods = tuple(res["methods"])
    if "EEG-VLM" in methods:
        print(f"EEG-VLM model: {model_label} (loaded in {res['model_load_sec']:.1f} s, not in the per-excerpt times)")
    if "YASA" in methods:
        print("YASA: yasa.SleepStaging (shipped classifier, EEG only; sklearn's InconsistentVersionWarning about its "
              "pickled LabelEncoder is silenced)")
    if "GSSC" in methods:
        print(f"GSSC {gssc_adapter.gssc_version()}: EEGInfer.mne_infer (shipped networks, EEG only, no EOG; loaded in "
              f"{res['gssc_load_sec']:.1f} s, not in the per-excerpt times; adapted by benchmarks/gssc_adapter.py)")
    print("DREAMS is never used for training: excerpts 1-4 are read from ../shared/data at run time for this "
          "evaluation only (CC BY-NC-ND).")
    print()
    header = f"{'excerpt':<9} {'channel':<6} {'Hz':>4} {'n':>3}  {'method':<8} {'acc':>6} {'mF1':>6} {'kappa':>6} " \
             f"{'sec':>5}  note"
    print("sec: wall time per excerpt (the first YASA call also loads its classifier)")
    print(header)
    print("-" * len(header))
    for name, row in res["excerpts"].items():
        for method in methods:
            m = row[method]
            note = m["note"] + (f"; {m['n_unscored']} unscored epoch(s) counted wrong" if m["n_unscored"] else "")
            print(f"{name:<9} {row['channel']:<6} {row['sampling_rate']:>4g} {m['n']:>3}  {method:<8} "
                  f"{_fmt(m['accuracy']):>6} {_fmt(m['macro_f1']):>6} {_fmt(m['cohen_kappa']):>6} "
                  f"{m['seconds']:>5.1f}  {note}")
        if row["n_excluded_unknown"]:
            print(f"{'':<9} ({row['n_excluded_unknown']} epochs with an unknown expert stage excluded)")
    print("-" * len(header))
    for method in methods:
        m = res["pooled"][method]
        print(f"{'pooled':<9} {'':<6} {'':>4} {m['n']:>3}  {method:<8} {_fmt(m['accuracy']):>6} "
              f"{_fmt(m['macro_f1']):>6} {_fmt(m['cohen_kappa']):>6}")
    print()
    print("pooled recall per stage (expert epochs):")
    print(f"{'method':<8} " + " ".join(f"{s + ' (' + str(res['support'][s]) + ')':>10}" for s in STAGES))
    for method in methods:
        rec = res["pooled"][method]["recall"]
        print(f"{method:<8} " + " ".join(f"{_fmt(rec[s]):>10}" for s in STAGES))
    print("pooled predicted epochs per stage:")
    for method in methods:
        pred = res["pooled"][method]["predicted"]
        print(f"{method:<8} " + " ".join(f"{pred[s]:>10}" for s in STAGES)
              + (f"  (+{pred['UNS']} unscored)" if pred["UNS"] else ""))
    print("pooled confusion (rows: expert stage; columns: the method's)")
    for method in methods:
        conf = res["pooled"][method]["confusion"]
        print(f"{method:<8} " + " ".join(f"{s:>5}" for s in STAGES))
        for t in STAGES:
            print(f"{'  ' + t:<8} " + " ".join(f"{conf[t][s]:>5}" for s in STAGES)
                  + (f"  (+{conf[t]['UNS']} unscored)" if conf[t]["UNS"] else ""))
    if "EEG-VLM" in methods:
        print()
    for other in (m for m in methods if m != "EEG-VLM" and "EEG-VLM" in methods):
        a, b = res["pooled"]["EEG-VLM"], res["pooled"][other]
        better = "beats" if a["cohen_kappa"] > b["cohen_kappa"] else "does not beat"
        print(f"EEG-VLM {better} {other} on pooled kappa ({a['cohen_kappa']:.3f} vs {b['cohen_kappa']:.3f}); "
              f"macro-F1 {a['macro_f1']:.3f} vs {b['macro_f1']:.3f}.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None,
                    help="EEG-VLM model directory or Hub id (default: the embedded default model)")
    ap.add_argument("--night-inputs", default=None, choices=NIGHT_INPUTS,
                    help="what EEG-VLM's night model reads for this run (default: the model's config.night_inputs)")
    ap.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4], choices=sorted(dreams.SAMPLING_RATES),
                    help="DREAMS excerpts to evaluate (default: 1 2 3 4)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD",
                    help=f"methods to compare, in this order ({' '.join(METHODS)}; default: all; GSSC is left out "
                         "with the install command when it is not installed)")
    ap.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file (atomic)")
    args = ap.parse_args(argv)
    methods = list(dict.fromkeys(args.methods))  # a repeated name once
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if "GSSC" in methods:
        try:
            gssc_adapter.require_gssc()
        except gssc_adapter.GsscMissingError as err:
            print(f"GSSC left out: {err}")
            methods.remove("GSSC")
            if not methods:
                return 0
    try:
        dreams.require_dreams()
    except dreams.DreamsMissingError as err:
        print(f"SKIPPED: {err}")
        return 0
    import eeg_vlm
    from eeg_vlm.io import write_summary_json

    try:
        model_label = str(args.model) if args.model else f"embedded default ({eeg_vlm.default_model_path()})"
        if args.night_inputs:
            model_label += f", night_inputs={args.night_inputs!r}"
        res = run(args.excerpts, args.model, methods, night_inputs=args.night_inputs)
    except (ValueError, OSError) as err:  # a missing default model or a bad --model: no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_report(res, model_label)
    if args.json is not None:
        write_summary_json(args.json, {"model": model_label, **res}, overwrite=True)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
