"""Faithfulness of a Chain-of-Thought: is what it says about the epoch true of the epoch?

Every checkable claim of a generated explanation (band-power levels, slow-wave percentage, spindle and K-complex
counts, alpha, eye movements, chin tone, the neighbours it cites, the stage the AASM rules give) is parsed with the
CoT's own phrase patterns and compared with the features the feature extractor measures on the same epoch
(``EEGVLMFeatureExtractor.measure``), each claim type with a stated tolerance. Self-consistency asks whether the
final ``Stage:`` follows from the evidence the text itself states, under the rule set the CoT labels were written
with.

    python -m eeg_vlm.train evaluate --model DIR --dataset DIR --split test --output_dir OUT --generate
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping

from .cot import parse_claims, parse_stage, stage_from_features

#: tolerance per claim type, in feature units (fractions for percentages): a claim within it is faithful.
#: Percentages are printed as whole numbers, so 5 points covers rounding and small measurement jitter.
TOLERANCES = {
    "delta_rel": 0.05, "theta_rel": 0.05, "alpha_rel": 0.05, "sigma_rel": 0.05, "beta_rel": 0.05,
    "slow_wave_fraction": 0.05, "alpha_fraction": 0.05,
    "amplitude_uv": 0.15,  # relative: 15 % of the measured peak-to-peak amplitude (at least 10 uV)
    "spindle_count": 1.0, "kcomplex_count": 1.0, "eye_movement_count": 1.0,  # events: off by one at most
    "emg_rms_uv": 0.3,  # uV, on the 1-Hz envelope scale (REM ~0.75 uV, W ~3.4 uV)
}
EEG_KEYS = ("delta_rel", "theta_rel", "alpha_rel", "sigma_rel", "beta_rel", "amplitude_uv", "slow_wave_fraction",
            "spindle_count", "kcomplex_count", "alpha_fraction", "eye_movement_count", "emg_rms_uv")


#: training-label wording that is false when the model stages a night itself: a scorer, an expert, a kept label
SCORER_WORDING = re.compile(r"\b(?:scorer|expert|label is kept|was scored)\b", re.IGNORECASE)


def has_scorer_wording(text: str) -> bool:
    """Does the text speak of a scorer, an expert or a kept label (training-label wording)?"""
    return bool(SCORER_WORDING.search(text or ""))


def _within(kind: str, claimed: float, measured: float) -> bool:
    if math.isnan(claimed) or math.isnan(measured):
        return math.isnan(claimed) and math.isnan(measured)
    tol = TOLERANCES[kind]
    if kind == "amplitude_uv":
        tol = max(10.0, tol * abs(measured))
    return abs(claimed - measured) <= tol + 1e-9


def check_claims(text: str, features: Mapping, *, prev_features: Mapping | None = None,
                 next_features: Mapping | None = None, prev_stage: str | None = None,
                 next_stage: str | None = None) -> list[dict]:
    """Each parsed claim with the measured value and ``ok`` (True, False, or None when it cannot be checked).

    Parameters
    ----------
    text : str
        A Chain-of-Thought.
    features : mapping
        The features measured on the epoch (``EEGVLMFeatureExtractor.measure`` keys).
    prev_features, next_features, prev_stage, next_stage : optional
        The neighbouring epochs' features and expert stages, for the context claims.
    """
    out = []
    for claim in parse_claims(text):
        kind, value = claim["type"], claim["value"]
        measured, ok = None, None
        if kind in TOLERANCES:
            measured = float(features[kind])
            ok = _within(kind, value, measured)
        elif kind in ("eog_absent", "emg_absent"):
            measured = float(features["eye_movement_count" if kind == "eog_absent" else "emg_rms_uv"])
            ok = math.isnan(measured)
        elif kind.startswith(("prev_", "next_")):
            side, key = kind[:4], kind[5:]
            if key == "stage":
                measured = prev_stage if side == "prev" else next_stage
                ok = None if measured is None else value == measured
            else:
                source = prev_features if side == "prev" else next_features
                if source is not None:
                    measured = float(source[key])
                    ok = _within(key, value, measured)
        elif kind in ("features_stage", "rule_stage"):  # the AASM rule it invokes, applied to the measured features
            measured = stage_from_features({k: float(features[k]) for k in EEG_KEYS})
            ok = value == measured
        out.append({**claim, "measured": measured, "ok": ok})
    return out


def self_consistent(text: str) -> bool | None:
    """Does the final ``Stage:`` follow from the evidence the text states? None when nothing can be checked.

    The stated numbers are fed to the CoT's rule set; the result must be the stage the text says the features
    point to, and the final stage must be that one when the text claims agreement, or the other stage it names
    when it says the epoch as a whole is staged otherwise (the first models wrote "the scorer marked X").
    """
    final = parse_stage(text)
    claims = parse_claims(text)
    stated = {c["type"]: c["value"] for c in claims}
    if final is None or not any(k in stated for k in EEG_KEYS):
        return None if final is None and not claims else False
    evidence = {k: stated.get(k, math.nan) for k in EEG_KEYS}
    if "eog_absent" in stated:
        evidence["eye_movement_count"] = math.nan
    if "emg_absent" in stated:
        evidence["emg_rms_uv"] = math.nan
    derived = stage_from_features(evidence)
    for kind in ("rule_stage", "features_stage"):  # the first met rule it names, and the stage it concludes
        if stated.get(kind) is not None and stated[kind] != derived:
            return False
    other = stated.get("staged_stage", stated.get("scorer_stage"))
    if other is not None:  # the text says the stage differs from what the stated evidence gives
        return final == other and other != derived
    return final == derived


def faithfulness_report(texts, features_rows, *, neighbours=None) -> dict:
    """Faithful-claim rate per claim type and overall, the self-consistency rate and the share of texts with
    scorer/expert wording (:data:`SCORER_WORDING`), over many CoTs.

    Parameters
    ----------
    texts : list of str
    features_rows : list of mapping
        Measured features of each epoch.
    neighbours : list of dict, optional
        Per text: ``prev_features``, ``next_features``, ``prev_stage``, ``next_stage`` (any may be None).
    """
    per_type = defaultdict(lambda: [0, 0])
    consistent = []
    marked = []
    scorer_words = []
    for i, (text, feats) in enumerate(zip(texts, features_rows)):
        ctx = neighbours[i] if neighbours else {}
        checked = check_claims(text, feats, **ctx)
        for c in checked:
            if c["ok"] is not None:
                key = c["type"][5:] if c["type"].startswith(("prev_", "next_")) and c["type"] not in (
                    "prev_stage", "next_stage") else c["type"]
                per_type[key][0] += int(c["ok"])
                per_type[key][1] += 1
        consistent.append(self_consistent(text))
        scorer_words.append(has_scorer_wording(text))
        marked.append(checked)
    n_ok = sum(v[0] for v in per_type.values())
    n_all = sum(v[1] for v in per_type.values())
    judged = [c for c in consistent if c is not None]
    return {
        "faithful_claim_rate": n_ok / n_all if n_all else float("nan"),
        "n_claims": n_all,
        "faithful_claim_rate_per_type": {k: v[0] / v[1] for k, v in sorted(per_type.items())},
        "n_claims_per_type": {k: v[1] for k, v in sorted(per_type.items())},
        "self_consistency_rate": sum(judged) / len(judged) if judged else float("nan"),
        "n_self_consistency": len(judged),
        "scorer_wording_rate": sum(scorer_words) / len(scorer_words) if scorer_words else float("nan"),
        "claims": marked,
    }


__all__ = ["SCORER_WORDING", "TOLERANCES", "check_claims", "faithfulness_report", "has_scorer_wording",
           "self_consistent"]
