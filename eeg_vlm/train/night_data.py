"""Whole-night training sequences for the night-level stage model, cached one file per night and channel.

Two sources, one format (``NightSequence``: per-epoch pooled visual tokens, measured features, expert stages):

- simulated Sleep-EDFx-format nights (replayed real Sleep-EDF-20 nights and calibrated free-running subjects): each
  EEG derivation of a night is rendered, run through a frozen visual side (``encode_images(...)["pooled_visual"]``)
  and measured with the feature extractor; every derivation is its own sequence (channel augmentation);
- the 20 real Sleep-EDF-20 nights as feature sequences (``../shared/data/sleep-edf20-features``): the nine
  per-channel features of Fpz-Cz and of Pz-Oz, each channel one sequence, no image, the other features NaN.

    python -m eeg_vlm.train night --sim runs/rd/sim --real-features ../shared/data/sleep-edf20-features --out runs/night

Caching is per file (``cache/<night>__<channel>.npz``, written atomically), so an interrupted run resumes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..configuration_eeg_vlm import STAGE_LABELS
from ..io.atomic import atomic_path

logger = logging.getLogger(__name__)
SIM_CHANNELS = ("EEG Fpz-Cz", "EEG C4-M1", "EEG Pz-Oz")  # every EEG derivation of a simulated night
SEDF_CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz")  # columns 0-8 and 9-17 of the Sleep-EDF-20 feature files
EOG_EMG_FEATURES = ("eye_movement_count", "emg_rms_uv")  # NaN when the night has no EOG / EMG


# per real sequence, per step: its EEG as another montage and amplifier would give it, a gain on every band's power
# (natural log, uniform +-REAL_GAIN: x0.5-2) times a per-band factor (+-REAL_TILT), the nine Sleep-EDF-20 features
# recomputed exactly. Sleep-EDF-20's own montage difference (median log power Fpz-Cz minus Pz-Oz, per stage) is
# 0.6-1.0, +-0.4 per band; chosen on Sleep-EDF by the real-night CV, in-domain and across its two derivations
# (trained without one, tested on it): 0.629 / 0.573 / 0.471 against 0.646 / 0.526 / 0.425 without, 1.4 / 0.5 gave
# 0.610 / 0.584 / 0.482. The simulated nights vary by construction
REAL_GAIN, REAL_TILT = 0.7, 0.25


def feature_names() -> tuple:
    """The features the night model reads: ``EEGVLMFeatureExtractor.feature_names`` (the nine Sleep-EDF-20
    features, then the measurements the Chain-of-Thought cites)."""
    from ..feature_extraction_eeg_vlm import FEATURE_NAMES

    return tuple(FEATURE_NAMES)


def measure(eeg_epochs, sampling_rate, *, eog=None, emg=None, extractor=None, recorded_rate=None) -> np.ndarray:
    """``(T, F)`` float32 features of EEG epochs in uV (``feature_names()`` order; NaN where not measured, including
    the features a ``recorded_rate`` below 100 Hz cannot measure)."""
    from ..feature_extraction_eeg_vlm import EEGVLMFeatureExtractor

    extractor = extractor or EEGVLMFeatureExtractor()
    return np.asarray(extractor(eeg_epochs, sampling_rate=sampling_rate, eog=eog, emg=emg,
                                recorded_rate=recorded_rate)["features"],
                      dtype=np.float32)


@dataclass
class NightSequence:
    """One night seen through one EEG derivation.

    Attributes
    ----------
    name : str
        e.g. ``"SC4012E0/EEG C4-M1"``.
    subject : int
        Sleep-EDF subject number (replayed and real nights share it; simulated subjects are 20 and up).
    source : str
        ``"sim"`` or ``"real"``.
    stages : numpy.ndarray
        ``(T,)`` int stage index into ``STAGE_LABELS``.
    features : numpy.ndarray
        ``(T, F)`` float32 measured features, NaN where not measured.
    image_embeds : numpy.ndarray or None
        ``(T, Dv)`` float32 pooled visual tokens; None for a features-only night.
    """

    name: str
    subject: int
    source: str
    stages: np.ndarray
    features: np.ndarray
    image_embeds: np.ndarray | None = None


def _save(path: Path, seq: NightSequence) -> None:
    arrays = {"stages": seq.stages, "features": seq.features, "subject": np.int64(seq.subject),
              "source": np.array(seq.source), "name": np.array(seq.name)}
    if seq.image_embeds is not None:
        arrays["image_embeds"] = seq.image_embeds.astype(np.float16)  # halves the cache; the encoder reads float32
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load(path: Path) -> NightSequence:
    with np.load(path) as z:
        img = z["image_embeds"].astype(np.float32) if "image_embeds" in z else None
        return NightSequence(str(z["name"]), int(z["subject"]), str(z["source"]), z["stages"].astype(np.int64),
                             z["features"].astype(np.float32), img)


@torch.no_grad()
def _pooled(model, renderer, night, channel: str, batch_size: int = 128) -> np.ndarray:
    """``(T, Dv)`` pooled visual tokens of every scored epoch of ``night`` on ``channel``."""
    out = []
    for start in range(0, len(night), batch_size):
        idx = range(start, min(start + batch_size, len(night)))
        windows = np.stack([night.epoch_with_context(channel, i, context=renderer.context_epochs) for i in idx])
        images = renderer.render(windows[:, None, :], night.sampling_rates[channel])  # (B, H, W, 3)
        pixels = torch.from_numpy(renderer.to_pixel_values(images))
        out.append(model.model.encode_images(pixels)["pooled_visual"].float().numpy())
    return np.concatenate(out)


def simulated_sequences(sim_dir, cache_dir, *, model, processor, channels=SIM_CHANNELS, progress=True):
    """Every night of a Sleep-EDFx-format folder as one sequence per EEG derivation (cached)."""
    from ..dataset_builder.build import EMG, EOG
    from ..dataset_builder.sleep_edfx import pair_files, read_night

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    seqs = []
    for files in tqdm(pair_files(sim_dir), desc="night sequences", unit="night", disable=not progress):
        for channel in channels:
            path = cache_dir / f"{files.psg.name.split('-')[0]}__{channel.replace(' ', '_')}.npz"
            if not path.exists():
                night = read_night(files.psg, files.hypnogram, channels=(channel, EOG, EMG))
                feats = measure(night.signals[channel], night.sampling_rates[channel],
                                eog=night.signals.get(EOG), emg=night.signals.get(EMG))
                stages = np.array([STAGE_LABELS.index(s) for s in night.stages], dtype=np.int64)
                _save(path, NightSequence(f"{files.psg.name.split('-')[0]}/{channel}", files.subject, "sim", stages,
                                          np.asarray(feats, dtype=np.float32),
                                          _pooled(model, processor.image_processor, night, channel)))
            seqs.append(_load(path))
    return seqs


def montage_jitter(f: torch.Tensor, rng, cols) -> torch.Tensor:
    """``(T, F)`` features of one real crop as if its EEG had other band gains (see :data:`REAL_GAIN`); ``cols``:
    the indices of the nine ``SEDF_NAMES`` features, in their order. NaN (not measured) stays NaN."""
    from ..measurements_eeg_vlm import SEDF_EPS

    if REAL_GAIN + REAL_TILT <= 0:
        return f
    x = f.double()
    band = x[:, cols[:5]]  # log(mean PSD + eps), V^2/Hz
    gain = float(rng.uniform(-REAL_GAIN, REAL_GAIN))
    tilt = torch.from_numpy(rng.uniform(-REAL_TILT, REAL_TILT, 5))
    band = torch.log((band.exp() - SEDF_EPS).clamp_min(0) * torch.exp(gain + tilt) + SEDF_EPS)
    var = (x[:, cols[7]].exp() - SEDF_EPS).clamp_min(0)  # V^2 of the signal
    diff_var = x[:, cols[8]] ** 2 * (var + SEDF_EPS)  # V^2 of its first difference, from Hjorth mobility
    out = x.clone()
    out[:, cols[:5]] = band
    out[:, cols[5]] = band[:, 1] / (band[:, 2] + SEDF_EPS)  # log theta / log alpha, as defined
    out[:, cols[6]] = band[:, 2] / (band[:, 0] + SEDF_EPS)  # log alpha / log delta
    out[:, cols[7]] = torch.log(var * np.exp(gain) + SEDF_EPS)
    out[:, cols[8]] = torch.sqrt(diff_var * np.exp(gain) / (var * np.exp(gain) + SEDF_EPS))
    return out.to(f.dtype)


def real_feature_sequences(source=None):
    """The 20 real Sleep-EDF-20 nights (trimmed to the standard protocol), one features-only sequence per channel.

    The nine per-channel columns fill the extractor's nine ``sedf_*`` features; every other feature is NaN.
    """
    from ..simulation.sleep_edf20 import load_nights

    names = feature_names()
    seqs = []
    for night, (x, y) in load_nights(source).items():
        for c, channel in enumerate(SEDF_CHANNELS):
            feats = np.full((len(y), len(names)), np.nan, dtype=np.float32)
            feats[:, :9] = x[:, 9 * c : 9 * c + 9]
            seqs.append(NightSequence(f"{night}/{channel}", int(night[3:5]), "real", y.astype(np.int64), feats))
    return seqs


__all__ = ["SEDF_CHANNELS", "SIM_CHANNELS", "NightSequence", "montage_jitter", "real_feature_sequences", "simulated_sequences"]
