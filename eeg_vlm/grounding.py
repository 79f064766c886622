"""Grounded explanations: the epoch's measured features go into the prompt, so the model explains from the image
and the numbers.

    eeg-vlm explain night.edf --epoch 123 --ground
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .processing_eeg_vlm import STAGING_PROMPT


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{round(100 * x)} %"


def features_sentence(features: Mapping) -> str:
    """The measured features of one epoch in one line, with units (what the grounded prompt adds)."""
    f = {k: float(v) for k, v in features.items() if isinstance(v, (int, float))}
    eye = f.get("eye_movement_count", math.nan)
    emg = f.get("emg_rms_uv", math.nan)
    return (
        f"Measured on this epoch: delta {_pct(f['delta_rel'])}, theta {_pct(f['theta_rel'])}, alpha "
        f"{_pct(f['alpha_rel'])}, sigma {_pct(f['sigma_rel'])}, beta {_pct(f['beta_rel'])} of the 0.5-30 Hz power; "
        f"peak-to-peak amplitude {round(f['amplitude_uv'])} uV; slow waves {_pct(f['slow_wave_fraction'])} of the "
        f"epoch; {round(f['spindle_count'])} spindles; {round(f['kcomplex_count'])} K-complexes; alpha dominates "
        f"{_pct(f['alpha_fraction'])} of the epoch; "
        + ("no EOG channel; " if math.isnan(eye) else f"{round(eye)} rapid eye movements; ")
        + ("no EMG channel." if math.isnan(emg) else f"chin EMG RMS {emg:.1f} uV.")
    )


def grounded_prompt(features: Mapping, prompt: str = STAGING_PROMPT) -> str:
    """The staging prompt followed by the measured features."""
    return f"{prompt}\n{features_sentence(features)}"


__all__ = ["features_sentence", "grounded_prompt"]
