"""Sleep-EDFx-format night simulator: physiologically grounded EEG/EOG/EMG for a hypnogram.

The lead's CLI calls (``python -m eeg_vlm.dataset_builder simulate ...`` or ``python -m eeg_vlm.simulation ...``):

- :func:`simulate_from_hypnogram` — a PSG for a genuine Sleep-EDFx hypnogram
  (``SC4001EC-Hypnogram.edf`` -> ``SC4001E0-PSG.edf`` beside a copy of the hypnogram);
- :func:`simulate_random` — invented nights as Sleep-EDFx-named PSG + hypnogram pairs;
- :func:`simulate_epochs` — the signals alone, as arrays (tests, benchmarks).

Signal model (100 Hz, amplitudes in uV, everything deterministic for a seed): per-channel 1/f
background; shared rhythm generators (0.5-2 Hz slow waves, 2-4 Hz delta, theta, subject-specific
posterior alpha, beta, scalp muscle) whose amplitudes follow the stage, cross-faded over ~10 s
and slowly fluctuating; discrete events (spindles, K-complexes, vertex sharp waves, sawtooth
trains, rapid/slow eye movements, blinks, REM twitches, movement bursts, electrode pops) drawn
from stage-dependent rates.

EMG: written as the cassette recorder stored it, a 1-Hz RMS envelope ('HP:16Hz Rectification
LP:0.7Hz'), so features and images match real Sleep-EDFx; ``emg_rate=100`` writes the raw
100-Hz chin EMG instead.  Both give about the same ``emg_rms_uv``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np
import pyedflib
from scipy import ndimage, signal

from .hypnograms import EPOCH_S, random_hypnogram, read_hypnogram, write_hypnogram

__all__ = ["FS", "CHANNELS", "draw_subject_params", "emg_envelope", "simulate_epochs",
           "simulate_from_hypnogram", "simulate_random"]

log = logging.getLogger(__name__)
FS = 100  # Hz, Sleep-EDFx EEG/EOG rate
CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
_PREFILTER = "HP:0.5Hz LP:100Hz [enhanced cassette BW]"
# Wide physical ranges (real cassette files: +-192 uV EEG at 12 bits) so nothing clips.
_RANGE = {"EEG Fpz-Cz": 1000.0, "EEG Pz-Oz": 1000.0, "EOG horizontal": 2000.0,
          "EMG submental": 500.0}

# Stage table: continuous rhythm amplitudes (uV RMS at Fpz-Cz; alpha at Pz-Oz) and event rates
# (per min).  R&K codes: W 1 2 3 4 R, M movement time, ? unscored (simulated as active wake).
_COLS = ("bg", "sw", "delta", "theta", "alpha", "beta", "musc", "spindle", "kc", "vertex",
         "sawtooth", "saccade", "sem", "blink", "emg", "twitch", "move")
_TABLE = {
    "W": (5.0, 2.0, 2.5, 3.0, 14.0, 3.0, 2.5, 0.0, 0.0, 0.0, 0.0, 8.0, 4.0, 8.0, 3.0, 0.0, 0.3),
    "1": (6.0, 4.0, 4.5, 4.5, 7.0, 2.2, 0.8, 0.3, 0.2, 2.5, 0.0, 0.3, 40.0, 0.5, 2.0, 0.0, 0.1),
    "2": (6.5, 11.0, 7.0, 4.5, 3.0, 0.9, 0.3, 4.0, 1.8, 0.3, 0.0, 0.0, 4.0, 0.0, 1.5, 0.0, 0.05),
    "3": (7.0, 28.0, 9.0, 5.5, 3.5, 0.6, 0.2, 2.0, 0.8, 0.0, 0.0, 0.0, 2.0, 0.0, 1.3, 0.0, 0.02),
    "4": (7.0, 36.0, 10.0, 5.5, 3.0, 0.5, 0.2, 1.0, 0.5, 0.0, 0.0, 0.0, 2.0, 0.0, 1.2, 0.0, 0.02),
    "R": (6.0, 5.0, 5.0, 4.0, 3.5, 1.8, 0.2, 0.2, 0.1, 0.0, 1.5, 12.0, 8.0, 0.0, 0.6, 3.0, 0.05),
    "M": (6.0, 3.0, 3.0, 3.0, 3.0, 2.5, 4.0, 0.0, 0.0, 0.0, 0.0, 6.0, 4.0, 8.0, 5.0, 0.0, 8.0),
    "?": (5.5, 3.0, 3.0, 3.0, 4.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 12.0, 4.0, 15.0, 4.0, 0.0, 1.0),
}
_C = {name: i for i, name in enumerate(_COLS)}
_FADE_S = 10      # s, Hann cross-fade between stages (transitions are not step functions)
_DRIFT_TAU = 60   # s, time constant of the slow within-stage amplitude fluctuation
_DRIFT_SD = 0.2   # log-amplitude SD of that fluctuation


def draw_subject_params(rng, *, age=None):
    """Draw one subject's physiology (used for all of its nights).

    Parameters
    ----------
    rng : numpy.random.Generator
    age : float, optional
        Years; drawn from 25-80 when None.  Older subjects get less slow-wave sleep amplitude
        and fewer, smaller spindles.

    Returns
    -------
    dict
        ``age``, ``sex``, ``amp_scale`` (overall EEG gain), ``alpha_freq`` (8.5-11.5 Hz),
        ``alpha_gain``, ``pz_alpha_ratio`` (Pz-Oz / Fpz-Cz alpha), ``spindle_freq``
        (11.5-14.5 Hz), ``spindle_density``, ``spindle_amp`` (uV peak), ``sw_density``,
        ``emg_scale``, ``eog_scale``.
    """
    age = float(rng.uniform(25, 80) if age is None else age)
    youth = np.clip(1.25 - 0.01 * (age - 25), 0.6, 1.25)  # slow waves & spindles fade with age
    return {
        "age": age, "sex": str(rng.choice(["Female", "Male"])),
        "amp_scale": float(np.clip(rng.lognormal(0, 0.15), 0.7, 1.4)),
        "alpha_freq": float(rng.uniform(8.5, 11.5)),
        "alpha_gain": float(np.clip(rng.lognormal(0, 0.35), 0.3, 2.5)),
        "pz_alpha_ratio": float(rng.uniform(1.8, 3.2)),
        "spindle_freq": float(rng.uniform(11.5, 14.5)),
        "spindle_density": float(youth * rng.lognormal(0, 0.25)),
        "spindle_amp": float(youth * 20.0 * rng.lognormal(0, 0.2)),
        "sw_density": float(youth ** 0.3 * rng.uniform(0.9, 1.1)),
        "emg_scale": float(rng.lognormal(0, 0.3)),
        "eog_scale": float(rng.lognormal(0, 0.2)),
    }


def _trajectories(codes, rng, params):
    """Per-second parameter trajectories (n_seconds, n_cols), cross-faded and fluctuating."""
    codes = np.asarray(codes)
    per_s = np.repeat(np.array([_TABLE[c] for c in codes], dtype=float), int(EPOCH_S), axis=0)
    n = len(per_s)
    # Wake: eyes open/closed two-state process (mean dwell ~40 s).  Far from sleep (daytime,
    # active wake) eyes are mostly open; in bed around sleep they are mostly closed.
    sleep = np.flatnonzero(~np.isin(codes, ["W", "?", "M"]))
    idx = np.arange(len(codes))
    dist = (np.min(np.abs(idx[:, None] - sleep[None, :]), axis=1) if len(sleep)
            else np.full(len(codes), 10**6))
    p_closed = np.repeat(np.where(dist > 120, 0.15, 0.6), int(EPOCH_S))  # 120 epochs = 1 h
    state = np.empty(n)
    s, i = float(rng.random() < p_closed[0]), 0
    while i < n:
        dwell = int(rng.exponential(40)) + 5
        state[i:i + dwell] = s
        i += dwell
        s = float(rng.random() < p_closed[min(i, n - 1)])
    wake = np.repeat(np.isin(codes, ["W", "?"]), int(EPOCH_S))
    closed = np.where(wake, state, 0.0)
    per_s[:, _C["alpha"]] *= np.where(wake, 0.2 + 0.8 * closed, 1.0)
    for col in ("saccade", "blink"):
        per_s[:, _C[col]] *= np.where(wake, 1.0 - 0.85 * closed, 1.0)
    active = wake & (np.repeat(dist, int(EPOCH_S)) > 120)
    per_s[:, _C["move"]] *= np.where(active, 3.0, 1.0)
    per_s[:, _C["emg"]] *= np.where(active, 1.5, 1.0)
    # Subject scalings.
    amp = params["amp_scale"]
    for col in ("bg", "delta", "theta", "beta"):
        per_s[:, _C[col]] *= amp
    # Slow waves scale only mildly with the subject: the scored stage (S3: 20-50 %, S4: > 50 %
    # of the epoch in >= 75 uV waves) must stay true to its definition.
    per_s[:, _C["sw"]] *= amp ** 0.3 * params["sw_density"]
    per_s[:, _C["alpha"]] *= amp * params["alpha_gain"]
    per_s[:, _C["spindle"]] *= params["spindle_density"]
    per_s[:, _C["emg"]] *= params["emg_scale"]
    # Cross-fade, then slow log-normal AR(1) fluctuation of every column.
    kernel = np.hanning(_FADE_S + 2)[1:-1]
    per_s = ndimage.convolve1d(per_s, kernel / kernel.sum(), axis=0, mode="nearest")
    a = np.exp(-1.0 / _DRIFT_TAU)
    shocks = rng.standard_normal((n, per_s.shape[1])) * _DRIFT_SD * np.sqrt(1 - a * a)
    drift = signal.lfilter([1.0], [1.0, -a], shocks, axis=0)
    return per_s * np.exp(drift - _DRIFT_SD ** 2 / 2)


def _noise(rng, n, sos):
    """White Gaussian noise through ``sos``, scaled to unit variance."""
    impulse = np.zeros(60 * FS)
    impulse[0] = 1.0
    gain = np.sqrt(np.sum(signal.sosfilt(sos, impulse) ** 2))
    return signal.sosfilt(sos, rng.standard_normal(n)) / gain


def _band(lo, hi, order=2):
    return signal.butter(order, [lo, hi], btype="bandpass", fs=FS, output="sos")


_PINK = np.vstack([signal.tf2sos([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                                 [1.0, -2.494956002, 2.017265875, -0.522189400]),
                   _band(0.3, 40.0),
                   signal.butter(2, 20.0, fs=FS, output="sos")])
# Kellet's 1/f filter in the cassette's passband, steepened above 20 Hz (sleep EEG falls faster
# than 1/f there; wake beta comes from its own generator)


_EVENT_COLS = ("spindle", "kc", "vertex", "sawtooth", "saccade", "blink", "twitch", "move")
_POP_PER_MIN = 2 / 60  # electrode pops: about two an hour, in any stage


def _draw_events(traj, rng):
    """Event onset times (s) per kind: Poisson counts per second from the rate trajectories."""
    n = len(traj)
    rates = {k: traj[:, _C[k]] / 60.0 for k in _EVENT_COLS}
    # REM saccades come in bursts of ~3: draw bursts at a third of the movement rate
    remness = np.clip(traj[:, _C["twitch"]] / 3.0, 0, 1)
    rates["saccade"] = rates["saccade"] / (1 + 2 * remness)
    rates["pop"] = np.full(n, _POP_PER_MIN / 60.0)
    out = {}
    for kind, rate in rates.items():
        counts = rng.poisson(np.maximum(rate, 0))
        out[kind] = np.repeat(np.arange(n), counts) + rng.random(int(counts.sum()))
    return out


def _add(chans, name, t0, wave, gain=1.0):
    x = chans[name]
    i0 = int(round(t0 * FS))
    lo, hi = max(i0, 0), min(i0 + len(wave), len(x))
    if hi > lo:
        x[lo:hi] += gain * wave[lo - i0:hi - i0]


def _spindle(rng, params, deep):
    dur = float(np.clip(rng.lognormal(np.log(0.9), 0.3), 0.5, 2.0))
    u = np.arange(int(dur * FS)) / (dur * FS)
    p = rng.uniform(0.3, 0.6)  # waxing-waning with the peak anywhere in the middle third
    env = np.sin(np.pi * np.where(u < p, 0.5 * u / p, 0.5 + 0.5 * (u - p) / (1 - p))) ** 2
    f = params["spindle_freq"] - 0.5 * deep + rng.normal(0, 0.3) + 0.4 * (0.5 - u)  # slight chirp
    phase = 2 * np.pi * np.cumsum(f) / FS + rng.uniform(0, 2 * np.pi)
    return params["spindle_amp"] * params["amp_scale"] * rng.lognormal(0, 0.3) * env * np.sin(phase)


def _gauss(t, mu, sd):
    return np.exp(-0.5 * ((t - mu) / sd) ** 2)


def _render_events(events, traj, chans, rng, params):
    """Add every event's waveform to the channels in place (uV; ``emg_gain`` is EMG RMS)."""
    amp, eogs = params["amp_scale"], params["eog_scale"]
    for t0 in events["spindle"]:
        deep = traj[int(t0), _C["sw"]] > 15  # spindles are slower in deep sleep
        wave = _spindle(rng, params, deep)
        _add(chans, "fpz", t0, wave)
        _add(chans, "pz", t0, wave, 0.7)
    t = np.arange(int(1.3 * FS)) / FS
    for t0 in events["kc"]:  # sharp negative wave, then a slower positive one (~1 s)
        a = amp * rng.lognormal(np.log(120), 0.25)
        wave = a * (0.08 * _gauss(t, 0.12, 0.04) - 0.62 * _gauss(t, 0.32, rng.uniform(0.06, 0.1))
                    + 0.38 * _gauss(t, 0.75, rng.uniform(0.14, 0.2)))
        for name, g in (("fpz", 1.0), ("pz", 0.35), ("eog", 0.25)):
            _add(chans, name, t0, wave, g)
        if rng.random() < 0.35:  # many K-complexes carry a spindle on their tail
            _add(chans, "fpz", t0 + 0.8, _spindle(rng, params, False))
    t = np.arange(int(0.5 * FS)) / FS
    for t0 in events["vertex"]:
        a = amp * rng.lognormal(np.log(60), 0.25)
        wave = a * (0.35 * _gauss(t, 0.32, 0.08) - _gauss(t, 0.15, 0.05))
        _add(chans, "fpz", t0, wave)
        _add(chans, "pz", t0, wave, 0.3)
    for t0 in events["sawtooth"]:  # trains of 2-4 Hz saw-shaped waves
        f, k = rng.uniform(2.0, 4.0), int(rng.integers(3, 9))
        t = np.arange(int(k / f * FS)) / FS
        wave = (amp * rng.uniform(20, 45) / 2 * signal.sawtooth(2 * np.pi * f * t, width=0.85)
                * signal.windows.tukey(len(t), 0.3))
        _add(chans, "fpz", t0, wave)
        _add(chans, "pz", t0, wave, 0.6)
    for t0 in events["saccade"]:
        remness = min(traj[int(t0), _C["twitch"]] / 3.0, 1.0)
        t_k = t0 + np.cumsum(np.r_[0, rng.uniform(0.3, 1.2, rng.poisson(2 * remness))])
        for tk in t_k:
            rise, tau = rng.uniform(0.04, 0.1), rng.uniform(0.3, 0.8)  # 0.5-Hz HP decay
            t = np.arange(int((rise + 4 * tau) * FS)) / FS
            shape = np.where(t < rise, 0.5 * (1 - np.cos(np.pi * t / rise)),
                             np.exp(-(t - rise) / tau))
            wave = rng.choice([-1, 1]) * eogs * rng.lognormal(np.log(100), 0.4) * shape
            _add(chans, "eog", tk, wave)
            _add(chans, "fpz", tk, wave, 0.1)
    t = np.arange(int(0.6 * FS)) / FS
    blink = (t / 0.1) * np.exp(1 - t / 0.1)  # gamma-like lid movement, peak 1 at 0.1 s
    for t0 in events["blink"]:
        wave = eogs * rng.lognormal(np.log(75), 0.3) * blink
        _add(chans, "fpz", t0, wave)
        _add(chans, "eog", t0, wave, 0.25)
    for t0 in events["twitch"]:  # phasic REM chin twitches
        dur = rng.uniform(0.1, 0.5)
        _add(chans, "emg_gain", t0, np.hanning(int(dur * FS) + 2) * rng.uniform(2, 6)
             * params["emg_scale"])
    for t0 in events["move"]:
        m = int(rng.uniform(2, 12) * FS)
        win = signal.windows.tukey(m, 0.3)
        brown = np.cumsum(rng.standard_normal(m))
        brown = signal.detrend(brown) / (brown.std() + 1e-9) * rng.uniform(25, 80) * win
        for name, g in (("fpz", 1.0), ("pz", 0.7), ("eog", 1.2)):
            hf = signal.sosfilt(_band(20.0, 45.0), rng.standard_normal(m)) * rng.uniform(10, 40)
            _add(chans, name, t0, g * brown + hf * win)
        _add(chans, "emg_gain", t0, win * rng.uniform(5, 15) * params["emg_scale"])
    for t0 in events["pop"]:  # one electrode's impedance jumps, then recovers
        tau = rng.uniform(0.2, 1.0)
        t = np.arange(int(5 * tau * FS)) / FS
        _add(chans, str(rng.choice(["fpz", "pz", "eog"])), t0,
             rng.choice([-1, 1]) * rng.uniform(100, 300) * np.exp(-t / tau))


def simulate_epochs(codes, rng, params):
    """Simulate the four Sleep-EDFx channels for a list of R&K codes (one per 30-s epoch).

    Parameters
    ----------
    codes : sequence of str
        R&K codes ``W 1 2 3 4 R M ?``, one per 30-s epoch.
    rng : numpy.random.Generator
    params : dict
        Subject physiology from :func:`draw_subject_params`.

    Returns
    -------
    dict of str to numpy.ndarray
        Channel label -> samples in uV at 100 Hz (``len(codes) * 3000`` each); the EMG is raw
        here (make the 1-Hz envelope with :func:`emg_envelope`).
    """
    codes = list(codes)
    bad = sorted({c for c in codes if c not in _TABLE})
    if bad or not codes:
        raise ValueError(f"codes: got {bad or 'an empty list'}; expected R&K codes from "
                         f"{sorted(_TABLE)}; map stages with sim_hypnogram.RK_CODES")
    traj = _trajectories(codes, rng, params)
    n = len(codes) * int(EPOCH_S) * FS
    up = lambda col: np.repeat(traj[:, _C[col]], FS)  # 1-s steps of an already smooth curve
    fa = params["alpha_freq"]
    src = {"sw": _noise(rng, n, _band(0.5, 2.0)) * up("sw"),
           "delta": _noise(rng, n, _band(2.0, 4.0)) * up("delta"),
           "theta": _noise(rng, n, _band(4.5, 7.5)) * up("theta"),
           "alpha": _noise(rng, n, _band(fa - 0.6, fa + 0.6)) * up("alpha"),
           "beta": _noise(rng, n, _band(12.0, 30.0)) * up("beta"),
           "musc": _noise(rng, n, _band(20.0, 45.0)) * up("musc"),
           "sem": _noise(rng, n, _band(0.15, 0.5)) * up("sem") * params["eog_scale"]}
    # Topography: Fpz-Cz is frontal (slow waves, eye artefacts), Pz-Oz posterior (alpha).
    ratio = params["pz_alpha_ratio"]
    fpz = (_noise(rng, n, _PINK) * up("bg") + src["sw"] + src["delta"] + src["theta"]
           + src["alpha"] / ratio + src["beta"] + src["musc"] + 0.15 * src["sem"])
    pz = (_noise(rng, n, _PINK) * up("bg") * 0.9 + 0.55 * src["sw"] + 0.7 * src["delta"]
          + 0.8 * src["theta"] + src["alpha"] + 0.8 * src["beta"] + 0.5 * src["musc"])
    eog = (_noise(rng, n, _PINK) * 4.0 + 0.25 * src["sw"] + 0.15 * src["delta"]
           + src["sem"] + 0.6 * src["musc"])
    emg_gain = up("emg")
    chans = {"fpz": fpz, "pz": pz, "eog": eog, "emg_gain": emg_gain}
    _render_events(_draw_events(traj, rng), traj, chans, rng, params)
    emg = _noise(rng, n, _band(16.0, 45.0, order=4)) * np.maximum(chans["emg_gain"], 0.05)
    return dict(zip(CHANNELS, (chans["fpz"], chans["pz"], chans["eog"], emg)))


def emg_envelope(emg, *, fs=FS):
    """1-Hz RMS envelope of a raw EMG (uV), like the cassette's rectified, 0.7-Hz low-passed EMG."""
    emg = np.asarray(emg, dtype=float)
    return np.sqrt(np.mean(emg[: len(emg) // fs * fs].reshape(-1, fs) ** 2, axis=1))


def _write_psg(path, sig, start, *, patientname, sex, emg_rate):
    """Write the four channels as a Sleep-EDFx-layout EDF+ file, atomically (tmp + rename)."""
    path = Path(path)
    rates = {c: FS for c in CHANNELS}
    rates["EMG submental"] = emg_rate
    headers = []
    for label in CHANNELS:
        emg = label == "EMG submental"
        prefilter = ("HP:16Hz Rectification LP:0.7Hz" if emg and emg_rate == 1
                     else "HP:16Hz LP:45Hz" if emg else _PREFILTER)
        headers.append({"label": label, "dimension": "uV", "sample_frequency": rates[label],
                        "physical_max": _RANGE[label], "physical_min": -_RANGE[label],
                        "digital_max": 32767, "digital_min": -32768,
                        "transducer": "Ag-AgCl electrodes", "prefilter": prefilter})
    data = []
    for label in CHANNELS:
        x = np.asarray(sig[label], dtype=float)
        over = np.abs(x) > _RANGE[label]
        if over.any():  # pyedflib would clip silently: say so
            log.warning("%s: %d samples of %s beyond +-%g uV clipped", path.name,
                        int(over.sum()), label, _RANGE[label])
            x = np.clip(x, -_RANGE[label], _RANGE[label])
        data.append(np.ascontiguousarray(x))
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    writer = pyedflib.EdfWriter(str(tmp), len(CHANNELS), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(start)
        writer.setPatientName(patientname.replace(" ", "_"))  # EDF+ fields: '_' reads as ' '
        if sex in ("Female", "Male"):
            writer.setSex(sex)
        writer.setEquipment("eeg-vlm-simulator")
        writer.writeSamples(data)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp, path)
    return path


def _night_signals(codes, rng, params, emg_rate):
    sig = simulate_epochs(codes, rng, params)
    if emg_rate == 1:
        sig["EMG submental"] = emg_envelope(sig["EMG submental"])
    return sig


def _check_emg_rate(emg_rate):
    if emg_rate not in (1, 100):
        raise ValueError(f"emg_rate: got {emg_rate!r}; expected 1 (Sleep-EDFx cassette envelope) "
                         "or 100 (raw EMG); pass one of them")


def simulate_from_hypnogram(hypnogram_path, out_dir, *, seed=0, subject_params=None, emg_rate=1):
    """Simulate the PSG of a genuine Sleep-EDFx hypnogram.

    Writes ``<first 7 characters of the hypnogram name>0-PSG.edf`` (``SC4001EC-Hypnogram.edf``
    -> ``SC4001E0-PSG.edf``) and a copy of the hypnogram into ``out_dir``.  The PSG starts at
    the hypnogram's start date/time and spans all of its annotations, trailing
    'Sleep stage ?' included (simulated as active wake).

    Parameters
    ----------
    hypnogram_path : str or Path
        Sleep-EDFx ``*-Hypnogram.edf``.
    out_dir : str or Path
        Output folder (created if missing).
    seed : int
        Seed of the numpy Generator: same seed, same night.
    subject_params : dict, optional
        Overrides of :func:`draw_subject_params` (e.g. ``{"alpha_freq": 9.5}``).
    emg_rate : {1, 100}
        1 writes the cassette-style 1-Hz EMG envelope (as in Sleep-EDFx), 100 the raw EMG.

    Returns
    -------
    pathlib.Path
        The PSG file.
    """
    _check_emg_rate(emg_rate)
    hyp = Path(hypnogram_path)
    codes, start, header = read_hypnogram(hyp)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    params = draw_subject_params(rng)
    name = str(header.get("patientname", "")).strip()  # e.g. "Female 33yr"
    words = name.split()
    if len(words) == 2 and words[1].endswith("yr") and words[1][:-2].isdigit():
        params = draw_subject_params(np.random.default_rng(seed), age=float(words[1][:-2]))
    params.update(subject_params or {})
    sig = _night_signals(codes, rng, params, emg_rate)
    copy = out_dir / hyp.name
    if copy.resolve() != hyp.resolve():
        tmp = copy.with_name(f".tmp-{os.getpid()}-{copy.name}")
        tmp.write_bytes(hyp.read_bytes())
        os.replace(tmp, copy)
    psg = out_dir / f"{hyp.name[:7]}0-PSG.edf"
    return _write_psg(psg, sig, start, patientname=name or "X",
                      sex=header.get("sex") or params["sex"], emg_rate=emg_rate)


_LETTERS = "ACJMPV"  # hypnogram suffix letters seen in the cassette study (C most often)


def simulate_random(out_dir, *, n_subjects, seed=0, nights_per_subject=(1, 2), hours=None,
                    emg_rate=1):
    """Simulate nights with invented hypnograms, under Sleep-EDFx cassette names.

    Subject ``ss`` night ``n`` gets ``SC4{ss}{n}E0-PSG.edf`` and ``SC4{ss}{n}E{letter}-
    Hypnogram.edf``; both nights of a subject share its physiology (age, alpha and spindle
    frequency, amplitudes).

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if missing).
    n_subjects : int
        1-100 subjects (two-digit subject numbers).
    seed : int
        Seed of the numpy Generator.
    nights_per_subject : int or (int, int)
        Nights per subject, or an inclusive range to draw from (1 or 2, as in Sleep-EDFx).
    hours : float, optional
        Keep only this many hours from 5 min before sleep onset (quick tests).
    emg_rate : {1, 100}
        See :func:`simulate_from_hypnogram`.

    Returns
    -------
    list of pathlib.Path
        The PSG files, in subject/night order (each hypnogram sits beside its PSG).
    """
    _check_emg_rate(emg_rate)
    if not isinstance(n_subjects, (int, np.integer)) or not 1 <= n_subjects <= 100:
        raise ValueError(f"n_subjects: got {n_subjects!r}; expected an integer 1-100 (two-digit "
                         "Sleep-EDFx subject numbers); pass e.g. n_subjects=4")
    lo, hi = ((nights_per_subject,) * 2 if isinstance(nights_per_subject, (int, np.integer))
              else tuple(nights_per_subject))
    if not 1 <= lo <= hi <= 2:
        raise ValueError(f"nights_per_subject: got {nights_per_subject!r}; expected 1, 2 or "
                         "(1, 2); Sleep-EDFx has at most two nights per subject")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for subject in range(n_subjects):
        params = draw_subject_params(rng)
        name = f"{params['sex']} {int(params['age'])}yr"
        base = dt.datetime(1989, 4, 24, 22, 0) + dt.timedelta(days=int(rng.integers(0, 900)))
        for night in range(1, int(rng.integers(lo, hi + 1)) + 1):
            codes = random_hypnogram(rng, hours=hours)
            start = base + dt.timedelta(days=night - 1, minutes=int(rng.integers(-60, 60)))
            stem = f"SC4{subject:02d}{night}E"
            write_hypnogram(out_dir / f"{stem}{rng.choice(list(_LETTERS))}-Hypnogram.edf",
                            codes, start, patientname=name, sex=params["sex"])
            sig = _night_signals(codes, rng, params, emg_rate)
            paths.append(_write_psg(out_dir / f"{stem}0-PSG.edf", sig, start,
                                    patientname=name, sex=params["sex"], emg_rate=emg_rate))
    return paths
