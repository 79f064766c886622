"""Grounded explanations: the epoch's measured features (and its neighbours') go into the prompt, so the model
explains from the image and the numbers.

    eeg-vlm explain night.edf --epoch 123 --ground

Each number is stated in the prompt with the very phrase the Chain-of-Thought uses for it (``cot.py``'s
templates, rounded the same way), so a model citing it copies the measurement instead of estimating it from the
pixels. Absent EOG / EMG channels are said plainly ("no EOG channel"), as the CoT labels say them.

When the night has been staged, the prompt also states the epoch's stage and its staged neighbours
(:data:`STAGED_NEIGHBOURS` each side, :func:`staged_sentence`): the text's neighbour claims and its final ``Stage:``
then copy the night's table instead of guessing it from one image (in training: the expert stages).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .cot import format_feature, neighbour_sentence, plural
from ..processing_eeg_vlm import STAGING_PROMPT

STAGED_NEIGHBOURS = 5  # epochs stated each side (2.5 min): AASM's continuity rules look a few epochs back and on
_NEEDED = ("delta_rel", "theta_rel", "alpha_rel", "sigma_rel", "beta_rel", "amplitude_uv", "slow_wave_fraction",
           "spindle_count", "kcomplex_count", "alpha_fraction")


def _values(features: Mapping, name: str) -> dict:
    if not isinstance(features, Mapping):
        raise ValueError(f"{name}: got {type(features).__name__}; expected a dict of measured features "
                         "(EEGVLMFeatureExtractor.measure output).")
    missing = [k for k in _NEEDED if k not in features]
    if missing:
        raise ValueError(f"{name}: missing keys {missing}; expected the EEGVLMFeatureExtractor.measure schema, which "
                         "has all of them.")
    f = {k: float(v) if v is not None else math.nan for k, v in features.items()
         if isinstance(v, (int, float)) or v is None}
    f.setdefault("eye_movement_count", math.nan)
    f.setdefault("emg_rms_uv", math.nan)
    return f


def features_sentence(features: Mapping) -> str:
    """The measured features of one epoch in one paragraph, each in the CoT's own phrase and unit."""
    f = _values(features, "features")
    p = {k: format_feature(k, v) for k, v in f.items()}
    sp, kc, eye = f["spindle_count"], f["kcomplex_count"], f["eye_movement_count"]
    eog = ("no EOG channel" if math.isnan(eye) else
           f"{p['eye_movement_count']} {plural(eye, 'rapid eye movement', 'rapid eye movements')} on the EOG")
    emg = "no EMG channel" if math.isnan(f["emg_rms_uv"]) else f"chin EMG RMS is {p['emg_rms_uv']} uV"
    return (
        f"Measured on this epoch: alpha (8-12 Hz) dominates {p['alpha_fraction']} % of the epoch; alpha carries "
        f"{p['alpha_rel']} % of the 0.5-30 Hz power, theta (4-8 Hz) {p['theta_rel']} % and beta (16-30 Hz) "
        f"{p['beta_rel']} %; the peak-to-peak amplitude is {p['amplitude_uv']} uV; slow waves cover "
        f"{p['slow_wave_fraction']} % of the epoch; delta (0.5-4 Hz) carries {p['delta_rel']} % of the power; "
        f"detected {p['spindle_count']} {plural(sp, 'sleep spindle', 'sleep spindles')} (11-16 Hz, 0.5-2 s) and "
        f"{p['kcomplex_count']} {plural(kc, 'K-complex', 'K-complexes')}; sigma (11-16 Hz) carries "
        f"{p['sigma_rel']} % of the power; {eog}; {emg}."
    )


def staged_sentence(stage: str, before: Sequence[str] = (), after: Sequence[str] = ()) -> str:
    """The night's staging around one epoch in one sentence, e.g. ``Staged with the whole night: this epoch N2; the
    2 epochs before it (oldest first) N1, N2; the 5 epochs after it N2, N2, N3, N3, N3.``

    Parameters
    ----------
    stage : str
        The epoch's stage (W, N1, N2, N3, REM; ``UNS`` for an unscorable epoch).
    before, after : sequence of str
        The stages of the epochs just before it (oldest first) and just after it; empty at a recording's ends.
    """
    parts = [f"this epoch {stage}"]
    for side, stages, order in (("before", list(before), " (oldest first)"), ("after", list(after), "")):
        if not stages:
            edge = "starts" if side == "before" else "ends"
            parts.append(f"no epoch {side} it (the recording {edge} here)")
        else:
            which = "the epoch" if len(stages) == 1 else f"the {len(stages)} epochs"
            parts.append(f"{which} {side} it{order if len(stages) > 1 else ''} {', '.join(stages)}")
    return "Staged with the whole night: " + "; ".join(parts) + "."


def grounded_prompt(features: Mapping, prompt: str = STAGING_PROMPT, *, prev_features: Mapping | None = None,
                    next_features: Mapping | None = None, stage: str | None = None, stages_before: Sequence[str] = (),
                    stages_after: Sequence[str] = ()) -> str:
    """The staging prompt followed by the measured features of the epoch and of its neighbours, and (when
    ``stage`` is given) the night's staging around it.

    Parameters
    ----------
    features : mapping
        ``EEGVLMFeatureExtractor.measure`` output for the epoch (NaN ``eye_movement_count`` / ``emg_rms_uv``: no
        channel).
    prompt : str
        The staging question.
    prev_features, next_features : mapping, optional
        The neighbouring 30-s epochs' features (slow waves, alpha, spindles, K-complexes are stated); None at the
        start / end of a recording.
    stage : str, optional
        The epoch's stage in the staged night (None: the night is not staged, no staging sentence).
    stages_before, stages_after : sequence of str
        The staged neighbours, up to :data:`STAGED_NEIGHBOURS` each side (oldest first), see :func:`staged_sentence`.
    """
    lines = [prompt, features_sentence(features)]
    for word, g in (("previous", prev_features), ("next", next_features)):
        if g is not None:
            lines.append(neighbour_sentence(word, _values(g, f"{'prev' if word == 'previous' else 'next'}_features")))
    if stage is not None:
        lines.append(staged_sentence(stage, stages_before, stages_after))
    elif len(stages_before) or len(stages_after):
        raise ValueError("stage: received None with staged neighbours; pass the epoch's own stage too (or no "
                         "neighbours).")
    return "\n".join(lines)


__all__ = ["STAGED_NEIGHBOURS", "features_sentence", "grounded_prompt", "staged_sentence"]
