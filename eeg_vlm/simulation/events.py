"""Discrete events of the simulated EEG/EOG/EMG: spindles, K-complexes, vertex waves, sawtooth trains, eye
movements, blinks, REM twitches, movement bursts, electrode pops, discrete slow waves.

Each event is drawn from its stage-dependent rate (``_draw_events``) and added with a spatial gain per channel
(``_render_events``); the gains follow where each phenomenon is strongest on the scalp (see ``SPATIAL``).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .physiology import FS, C, _band

# Spatial gain of each phenomenon per channel (relative amplitude; "c4" is the referential C4-M1, larger than the
# bipolar Fpz-Cz).  Where each is strongest, from the literature:
# - spindles: central (C3/C4, Cz) maximum, smaller frontal and parietal (De Gennaro & Ferrara 2003, Sleep Med Rev
#   7:423); the AASM scores them on C4-M1;
# - K-complexes and vertex sharp waves: fronto-central / vertex maximum (Colrain 2005, Sleep 28:255);
# - slow waves: frontal predominance (Massimini et al. 2004, J Neurosci 24:6862), hence F4-M1 in the AASM montage;
# - alpha: occipital maximum (O1/O2), weaker centrally, weakest frontally (AASM: O2-M1 for wake);
# - sawtooth waves: central / vertex (Pearl et al. 2002, Sleep 25:703);
# - blinks and eye movements: frontopolar, falling off steeply behind (Fpz >> C4 > Pz);
# - muscle and movement: everywhere, largest near the temporalis/masseter (the mastoid reference M1).
SPATIAL = {
    "spindle": {"fpz": 1.0, "pz": 0.7, "c4": 1.4},
    "kc": {"fpz": 1.0, "pz": 0.35, "c4": 1.1, "eog": 0.25},
    "vertex": {"fpz": 1.0, "pz": 0.3, "c4": 1.0},
    "sawtooth": {"fpz": 1.0, "pz": 0.6, "c4": 1.1},
    "slow_wave": {"fpz": 1.0, "pz": 0.55, "c4": 0.85, "eog": 0.25},
    "saccade": {"eog": 1.0, "fpz": 0.1, "c4": 0.04},
    "blink": {"fpz": 1.0, "eog": 0.25, "c4": 0.12, "pz": 0.03},
    "move": {"fpz": 1.0, "pz": 0.7, "c4": 1.1, "eog": 1.2},
}

_EVENT_COLS = ("spindle", "kc", "vertex", "sawtooth", "saccade", "blink", "twitch", "move")
_POP_PER_MIN = 2 / 60  # electrode pops: about two an hour, in any stage


def _draw_events(traj, rng):
    """Event onset times (s) per kind: Poisson counts per second from the rate trajectories."""
    n = len(traj)
    rates = {k: traj[:, C[k]] / 60.0 for k in _EVENT_COLS}
    # REM saccades come in bursts of ~3: draw bursts at a third of the movement rate
    remness = np.clip(traj[:, C["twitch"]] / 3.0, 0, 1)
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


def _spread(chans, kind, t0, wave):
    """Add ``wave`` at ``t0`` to every channel with the spatial gains of ``kind``."""
    for name, gain in SPATIAL[kind].items():
        _add(chans, name, t0, wave, gain)


def slow_wave_train(amplitude, rng):
    """Discrete 0.5-2 Hz slow waves: a sharp negative trough, then a broader positive phase (uV).

    ``amplitude`` (n,) is the local RMS the trajectory asks for; each wave gets a duration of 0.5-2 s and a
    log-normal amplitude around it, so slow-wave sleep reads as separate waves with sharp negative peaks (real
    N3: kurtosis ~1), not as smooth band-passed noise (kurtosis ~0).
    """
    n = len(amplitude)
    out = np.zeros(n)
    i = int(rng.integers(0, FS))
    while i < n:
        d = int(rng.uniform(0.5, 2.0) * FS)
        q = rng.uniform(0.3, 0.45)  # the negative phase is the shorter, sharper one
        t = np.arange(d) / d
        neg = t < q
        wave = np.where(neg, -np.sin(np.pi * t / q), q / (1 - q) * np.sin(np.pi * (t - q) / (1 - q)))
        a = amplitude[i] * 1.6 * rng.lognormal(0, 0.35)  # 1.6: peak of a wave whose RMS is the asked level
        out[i:i + d] = (a * wave)[: n - i]
        i += d
    return out


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
        deep = traj[int(t0), C["sw"]] > 15  # spindles are slower in deep sleep
        wave = _spindle(rng, params, deep)
        _spread(chans, "spindle", t0, wave)
    t = np.arange(int(1.3 * FS)) / FS
    for t0 in events["kc"]:  # sharp negative wave, then a slower positive one (~1 s)
        a = amp * rng.lognormal(np.log(120), 0.25)
        wave = a * (0.08 * _gauss(t, 0.12, 0.04) - 0.62 * _gauss(t, 0.32, rng.uniform(0.06, 0.1))
                    + 0.38 * _gauss(t, 0.75, rng.uniform(0.14, 0.2)))
        _spread(chans, "kc", t0, wave)
        if rng.random() < 0.35:  # many K-complexes carry a spindle on their tail
            _spread(chans, "spindle", t0 + 0.8, _spindle(rng, params, False))
    t = np.arange(int(0.5 * FS)) / FS
    for t0 in events["vertex"]:
        a = amp * rng.lognormal(np.log(60), 0.25)
        wave = a * (0.35 * _gauss(t, 0.32, 0.08) - _gauss(t, 0.15, 0.05))
        _spread(chans, "vertex", t0, wave)
    for t0 in events["sawtooth"]:  # trains of 2-4 Hz saw-shaped waves
        f, k = rng.uniform(2.0, 4.0), int(rng.integers(3, 9))
        t = np.arange(int(k / f * FS)) / FS
        wave = (amp * rng.uniform(20, 45) / 2 * signal.sawtooth(2 * np.pi * f * t, width=0.85)
                * signal.windows.tukey(len(t), 0.3))
        _spread(chans, "sawtooth", t0, wave)
    for t0 in events["saccade"]:
        remness = min(traj[int(t0), C["twitch"]] / 3.0, 1.0)
        t_k = t0 + np.cumsum(np.r_[0, rng.uniform(0.3, 1.2, rng.poisson(2 * remness))])
        for tk in t_k:
            rise, tau = rng.uniform(0.04, 0.1), rng.uniform(0.3, 0.8)  # 0.5-Hz HP decay
            t = np.arange(int((rise + 4 * tau) * FS)) / FS
            shape = np.where(t < rise, 0.5 * (1 - np.cos(np.pi * t / rise)),
                             np.exp(-(t - rise) / tau))
            wave = rng.choice([-1, 1]) * eogs * rng.lognormal(np.log(100), 0.4) * shape
            _spread(chans, "saccade", tk, wave)
    t = np.arange(int(0.6 * FS)) / FS
    blink = (t / 0.1) * np.exp(1 - t / 0.1)  # gamma-like lid movement, peak 1 at 0.1 s
    for t0 in events["blink"]:
        wave = eogs * rng.lognormal(np.log(75), 0.3) * blink
        _spread(chans, "blink", t0, wave)
    for t0 in events["twitch"]:  # phasic REM chin twitches
        dur = rng.uniform(0.1, 0.5)
        _add(chans, "emg_gain", t0, np.hanning(int(dur * FS) + 2) * rng.uniform(2, 6)
             * params["emg_scale"])
    for t0 in events["move"]:
        m = int(rng.uniform(2, 12) * FS)
        win = signal.windows.tukey(m, 0.3)
        brown = np.cumsum(rng.standard_normal(m))
        brown = signal.detrend(brown) / (brown.std() + 1e-9) * rng.uniform(25, 80) * win
        for name, g in SPATIAL["move"].items():
            hf = signal.sosfilt(_band(20.0, 45.0), rng.standard_normal(m)) * rng.uniform(10, 40)
            _add(chans, name, t0, g * brown + hf * win)
        _add(chans, "emg_gain", t0, win * rng.uniform(5, 15) * params["emg_scale"])
    for t0 in events["pop"]:  # one electrode's impedance jumps, then recovers
        tau = rng.uniform(0.2, 1.0)
        t = np.arange(int(5 * tau * FS)) / FS
        _add(chans, str(rng.choice(["fpz", "pz", "eog", "c4"])), t0,
             rng.choice([-1, 1]) * rng.uniform(100, 300) * np.exp(-t / tau))


