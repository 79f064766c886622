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


__all__ = ["SEDF_CHANNELS", "SIM_CHANNELS", "NightSequence", "real_feature_sequences", "simulated_sequences"]
