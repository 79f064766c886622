"""Sleep-EDFx-format EEG/EOG/EMG for a hypnogram, anchored to the real Sleep-EDF-20 nights.

    python -m eeg_vlm.simulation --random --subjects 6 --seed 777 --out data/sim

Two layers, deterministic for a seed (100 Hz, uV):

1. Waveforms (``physiology.py``, ``events.py``): a 1/f background; shared rhythm generators (delta, theta,
   subject-specific intermittent posterior alpha, beta, scalp muscle) whose amplitudes follow the stage,
   cross-faded over ~10 s and slowly fluctuating; discrete slow waves with sharp negative peaks; discrete events
   (spindles, K-complexes, vertex waves, sawtooth trains, eye movements, blinks, REM twitches, movement bursts,
   electrode pops) with a spatial gain per channel; 50- or 60-Hz line noise at a random per-night amplitude; EMG
   bleeding into the EEG; slow electrode drift (< 0.2 Hz).
2. Calibration (``shaping.py``, ``target_model.py``): each epoch's band powers, variance and mobility of
   ``EEG Fpz-Cz`` and ``EEG Pz-Oz`` are set to a draw from the per-stage distributions fitted to the real nights
   (``calibrated.npz``, ``python -m eeg_vlm.simulation.calibrate``), or to given targets (replay of a real night).
   ``EEG C4-M1`` gets the geometric mean of the two channels' band gains, so it moves with them.

``calibration=None`` keeps layer 1 alone (the hand-set generator, as before calibration).
EMG: raw here; the cassette stored a 1-Hz RMS envelope (:func:`emg_envelope`).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from .events import _draw_events, _render_events, slow_wave_train
from .hypnograms import EPOCH_S
from .physiology import FS, TABLE, C, _band, _noise, _PINK, _trajectories, draw_subject_params

__all__ = ["FS", "CHANNELS", "draw_subject_params", "emg_envelope", "simulate_epochs", "stage_indices"]

# Sleep-EDFx cassette channels, then the central derivation most clinical PSG uses (AASM C4-M1).
CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental", "EEG C4-M1")
RK_TO_INT = {"W": 0, "1": 1, "2": 2, "3": 3, "4": 3, "R": 4}  # M (movement) and ? (unscored): not shaped


def stage_indices(codes):
    """R&K codes -> AASM stage index 0-4 (W N1 N2 N3 REM), -1 for movement time and unscored epochs."""
    return np.array([RK_TO_INT.get(c, -1) for c in codes])


@functools.lru_cache(maxsize=4)
def _load_calibration(path):
    from .target_model import TargetModel

    return TargetModel.load(path)


def _calibration(calibration):
    from .target_model import TargetModel, default_path

    if calibration is None or isinstance(calibration, TargetModel):
        return calibration
    if isinstance(calibration, str) and calibration == "default":
        return _load_calibration(str(default_path())) if default_path().is_file() else None
    return _load_calibration(str(calibration))


def _waveforms(codes, rng, params):
    """Layer 1: the five channels before calibration (uV)."""
    traj = _trajectories(codes, rng, params)
    n = len(codes) * int(EPOCH_S) * FS
    up = lambda col: np.repeat(traj[:, C[col]], FS)  # 1-s steps of an already smooth curve
    fa = params["alpha_freq"]
    src = {"sw": slow_wave_train(up("sw"), rng),
           "delta": _noise(rng, n, _band(2.0, 4.0)) * up("delta"),
           "theta": _noise(rng, n, _band(4.5, 7.5)) * up("theta"),
           "alpha": _noise(rng, n, _band(fa - 0.6, fa + 0.6)) * up("alpha"),
           "beta": _noise(rng, n, _band(12.0, 30.0)) * up("beta"),
           "musc": _noise(rng, n, _band(20.0, 45.0)) * up("musc"),
           "sem": _noise(rng, n, _band(0.15, 0.5)) * up("sem") * params["eog_scale"]}
    # Topography: Fpz-Cz frontal (slow waves, eye artefacts), Pz-Oz posterior (alpha), C4-M1 central and
    # referential (larger background, alpha between the two, muscle from near the mastoid).
    ratio = params["pz_alpha_ratio"]
    fpz = (_noise(rng, n, _PINK) * up("bg") + src["sw"] + src["delta"] + src["theta"]
           + src["alpha"] / ratio + src["beta"] + src["musc"] + 0.15 * src["sem"])
    pz = (_noise(rng, n, _PINK) * up("bg") * 0.9 + 0.55 * src["sw"] + 0.7 * src["delta"]
          + 0.8 * src["theta"] + src["alpha"] + 0.8 * src["beta"] + 0.5 * src["musc"])
    c4 = (_noise(rng, n, _PINK) * up("bg") * 1.2 + 0.85 * src["sw"] + 0.9 * src["delta"] + src["theta"]
          + 1.6 * src["alpha"] / ratio + 0.9 * src["beta"] + 1.2 * src["musc"] + 0.03 * src["sem"])
    eog = (_noise(rng, n, _PINK) * 4.0 + 0.25 * src["sw"] + 0.15 * src["delta"]
           + src["sem"] + 0.6 * src["musc"])
    chans = {"fpz": fpz, "pz": pz, "c4": c4, "eog": eog, "emg_gain": up("emg")}
    _render_events(_draw_events(traj, rng), traj, chans, rng, params)
    emg = _noise(rng, n, _band(16.0, 45.0, order=4)) * np.maximum(chans["emg_gain"], 0.05)
    # line noise: 50 Hz (Europe; aliases onto the 50-Hz Nyquist bin at 100 Hz) or 60 Hz (-> 40 Hz), per night
    line_f = 50.0 if rng.random() < 0.7 else 60.0
    t = np.arange(n) / FS
    drift_sos = signal.butter(2, 0.2, fs=FS, output="sos")  # electrode / sweat drift below 0.2 Hz
    for name, bleed in (("fpz", 0.05), ("pz", 0.05), ("c4", 0.15)):  # EMG bleed: most near the mastoid
        line = rng.lognormal(np.log(0.3), 1.0) * np.sin(2 * np.pi * line_f * t + rng.uniform(0, 2 * np.pi))
        drift = _noise(rng, n, drift_sos) * 4.0  # uV RMS
        chans[name] += line + bleed * emg + drift
    return {"EEG Fpz-Cz": chans["fpz"], "EEG Pz-Oz": chans["pz"], "EOG horizontal": chans["eog"],
            "EMG submental": emg, "EEG C4-M1": chans["c4"]}


def simulate_epochs(codes, rng, params, *, calibration="default", targets=None):
    """Simulate the five channels for a list of R&K codes (one per 30-s epoch).

    Parameters
    ----------
    codes : sequence of str
        R&K codes ``W 1 2 3 4 R M ?``, one per 30-s epoch.
    rng : numpy.random.Generator
    params : dict
        Subject physiology from :func:`draw_subject_params`.
    calibration : "default", TargetModel, path or None, keyword-only
        Where each epoch's band powers come from: the shipped calibrated model (default), another fitted
        :class:`~eeg_vlm.simulation.target_model.TargetModel` (or its .npz path), or None for the hand-set
        generator alone.
    targets : numpy.ndarray, shape (n_epochs, 18), optional, keyword-only
        Explicit per-epoch Sleep-EDF-20 features to reproduce on Fpz-Cz (columns 0-8) and Pz-Oz (9-17), e.g. a
        real night's (replay); NaN rows are left as generated. Overrides ``calibration``.

    Returns
    -------
    dict of str to numpy.ndarray
        Channel label (:data:`CHANNELS`) -> samples in uV at 100 Hz (``len(codes) * 3000`` each); the EMG is raw
        (make the 1-Hz envelope with :func:`emg_envelope`).
    """
    from .shaping import TARGET_COLUMNS, shape_channel

    codes = list(codes)
    bad = sorted({c for c in codes if c not in TABLE})
    if bad or not codes:
        raise ValueError(f"codes: got {bad or 'an empty list'}; expected R&K codes from "
                         f"{sorted(TABLE)}; map stages with eeg_vlm.simulation.RK_CODES")
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (len(codes), 18):
            raise ValueError(f"targets: got shape {targets.shape}; expected ({len(codes)}, 18), one row of "
                             "Sleep-EDF-20 features (columns 0-17) per epoch of codes")
    sig = _waveforms(codes, rng, params)
    if targets is None:
        model = _calibration(calibration)
        if model is None:
            return sig
        targets = model.sample(stage_indices(codes), rng)
    cols = np.array(TARGET_COLUMNS)
    gains = []
    for k, name in enumerate(("EEG Fpz-Cz", "EEG Pz-Oz")):
        sig[name], g = shape_channel(sig[name], targets[:, 9 * k + cols], fs=FS)
        gains.append(g)
    from .shaping import apply_gains, band_split

    both = np.sqrt(gains[0] * gains[1])  # geometric mean: the central derivation moves with both
    sig["EEG C4-M1"] = apply_gains(band_split(sig["EEG C4-M1"], fs=FS), both, fs=FS)
    return sig


def emg_envelope(emg, *, fs=FS):
    """1-Hz RMS envelope of a raw EMG (uV), like the cassette's rectified, 0.7-Hz low-passed EMG."""
    emg = np.asarray(emg, dtype=float)
    return np.sqrt(np.mean(emg[: len(emg) // fs * fs].reshape(-1, fs) ** 2, axis=1))
