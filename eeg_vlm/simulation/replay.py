"""Replay real Sleep-EDF-20 nights: a simulated PSG that follows a real night epoch by epoch.

    python -m eeg_vlm.simulation --replay ../shared/data/sleep-edf20-features --out data/replay [--full]

For each ``SCxxxxE0.npz`` (per-epoch features + expert stages of a real night), writes ``SCxxxxE0-PSG.edf`` and
its ``SCxxxxE?-Hypnogram.edf`` (the real hypnogram file name from the published checksums) whose:

- stages are the real expert stages, epoch by epoch (transitions and label ambiguity included);
- ``EEG Fpz-Cz`` and ``EEG Pz-Oz`` epochs reproduce that epoch's 18 real features (band PSDs within 10 % on
  every epoch, SD and Hjorth mobility as :data:`TOLERANCE` states), by spectral shaping of simulated
  waveforms (``shaping.py``);
- ``EEG C4-M1`` moves with both (geometric mean of their band gains); EOG and EMG follow the stage.

By default the night is trimmed to the standard protocol (30 min of wake around the sleep period); ``--full``
replays every row.  Rows are consecutive 30-s epochs (the few '?' / movement epochs the source dropped are
absent, as in the features).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np

from . import sleep_edf20
from .generator import FS, draw_subject_params, emg_envelope, simulate_epochs
from .hypnograms import write_hypnogram

__all__ = ["TOLERANCE", "replay_night", "replay", "check_replay"]

log = logging.getLogger(__name__)
# Relative tolerance per feature kind, checked on every epoch by the tests: the ten band PSD means within 10 % on
# every epoch; SD (variance) and Hjorth mobility, which shaping sets only indirectly (through the power below
# 0.5 Hz and the balance inside delta, beta and gamma), within 10 % / 15 % on >= 97 % of the epochs and within
# 35 % / 150 % on every epoch (the rest: epochs where a simulated transient, e.g. an electrode pop or a
# movement burst, carries more broadband power than the real epoch had).
TOLERANCE = {"band": 0.10, "sd": 0.10, "mobility": 0.15, "share": 0.97, "sd_all": 0.35, "mobility_all": 1.5}
_CODES = ("W", "1", "2", "3", "R")  # AASM index -> R&K code (N3 written as stage 3)


def _hypnogram_name(night):
    """The real hypnogram file name of a night (e.g. SC4001EC-Hypnogram.edf), from the shipped checksums."""
    sums = Path(__file__).resolve().parents[1] / "dataset_builder" / "checksums" / "SHA256SUMS-sleep-cassette.txt"
    if sums.is_file():
        for line in sums.read_text().splitlines():
            name = line.split()[-1] if line.strip() else ""
            if name.startswith(night[:7]) and name.endswith("-Hypnogram.edf"):
                return Path(name).name
    return f"{night[:7]}C-Hypnogram.edf"


def replay_night(features, stages, *, seed=0):
    """Signals (dict of uV arrays, as :func:`simulate_epochs`) and R&K codes that replay one real night."""
    stages = np.asarray(stages)
    codes = [_CODES[s] for s in stages]
    rng = np.random.default_rng(seed)
    params = draw_subject_params(rng)
    return simulate_epochs(codes, rng, params, targets=np.asarray(features)[:, :18]), codes


def check_replay(signals, features):
    """Relative errors per epoch (dict kind -> (n_epochs, n) array) of a replay against the real features."""
    n = len(features)
    got = sleep_edf20.epoch_features(signals["EEG Fpz-Cz"][: n * 3000].reshape(n, -1),
                                     signals["EEG Pz-Oz"][: n * 3000].reshape(n, -1))
    bands = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13]
    err = {"band": sleep_edf20.band_psd_uv2(got[:, bands]) / sleep_edf20.band_psd_uv2(features[:, bands]) - 1,
           "sd": np.sqrt((np.exp(got[:, [7, 16]]) - sleep_edf20.EPS) / (np.exp(features[:, [7, 16]]) - sleep_edf20.EPS)) - 1,
           "mobility": got[:, [8, 17]] / features[:, [8, 17]] - 1}
    return err


def replay(source, out_dir, *, full=False, seed=0, emg_rate=1, progress=True):
    """Replay every night of ``source`` (a ``SCxxxxE0.npz`` or a folder of them) into ``out_dir``.

    Returns the list of PSG paths; nights already written are skipped (resumable).
    """
    from tqdm.auto import tqdm

    from .nights import write_psg

    nights = sleep_edf20.load_nights(source, trim=not full)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, (x, y)) in enumerate(tqdm(sorted(nights.items()), desc="replay", disable=not progress)):
        psg = out_dir / f"{name}-PSG.edf"
        paths.append(psg)
        if psg.exists():
            continue
        sig, codes = replay_night(x, y, seed=seed * 1000 + k)
        if emg_rate == 1:
            sig["EMG submental"] = emg_envelope(sig["EMG submental"], fs=FS)
        # the features carry no clock time: nights start at 22:00 on consecutive days of 1989
        start = dt.datetime(1989, 4, 24, 22, 0) + dt.timedelta(days=k)
        write_hypnogram(out_dir / _hypnogram_name(name), codes, start, patientname="X")
        write_psg(psg, sig, start, patientname="X", sex=None, emg_rate=emg_rate)
    return paths
