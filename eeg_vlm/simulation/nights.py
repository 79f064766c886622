"""Whole simulated nights written as Sleep-EDFx-format EDF+ pairs (PSG + hypnogram).

``python -m eeg_vlm.simulation --random --subjects 6 --seed 777 --out DIR`` or ``--hypnogram H.edf``:

- :func:`simulate_from_hypnogram` — a PSG for a genuine Sleep-EDFx hypnogram
  (``SC4001EC-Hypnogram.edf`` -> ``SC4001E0-PSG.edf`` beside a copy of the hypnogram);
- :func:`simulate_random` — invented nights as Sleep-EDFx-named PSG + hypnogram pairs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np
import pyedflib

from .generator import CHANNELS, FS, draw_subject_params, emg_envelope, simulate_epochs
from .hypnograms import random_hypnogram, read_hypnogram, write_hypnogram

__all__ = ["simulate_from_hypnogram", "simulate_random", "write_psg"]

log = logging.getLogger(__name__)
_PREFILTER = "HP:0.5Hz LP:100Hz [enhanced cassette BW]"
# Wide physical ranges (real cassette files: +-192 uV EEG at 12 bits) so nothing clips.
_RANGE = {"EEG Fpz-Cz": 1000.0, "EEG Pz-Oz": 1000.0, "EOG horizontal": 2000.0,
          "EMG submental": 500.0, "EEG C4-M1": 1000.0}


def write_psg(path, sig, start, *, patientname, sex, emg_rate):
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


def _night_signals(codes, rng, params, emg_rate, calibration="default"):
    sig = simulate_epochs(codes, rng, params, calibration=calibration)
    if emg_rate == 1:
        sig["EMG submental"] = emg_envelope(sig["EMG submental"])
    return sig


def _check_emg_rate(emg_rate):
    if emg_rate not in (1, 100):
        raise ValueError(f"emg_rate: got {emg_rate!r}; expected 1 (Sleep-EDFx cassette envelope) "
                         "or 100 (raw EMG); pass one of them")


def simulate_from_hypnogram(hypnogram_path, out_dir, *, seed=0, subject_params=None, emg_rate=1,
                            calibration="default"):
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
    sig = _night_signals(codes, rng, params, emg_rate, calibration)
    copy = out_dir / hyp.name
    if copy.resolve() != hyp.resolve():
        tmp = copy.with_name(f".tmp-{os.getpid()}-{copy.name}")
        tmp.write_bytes(hyp.read_bytes())
        os.replace(tmp, copy)
    psg = out_dir / f"{hyp.name[:7]}0-PSG.edf"
    return write_psg(psg, sig, start, patientname=name or "X",
                      sex=header.get("sex") or params["sex"], emg_rate=emg_rate)


_LETTERS = "ACJMPV"  # hypnogram suffix letters seen in the cassette study (C most often)


def simulate_random(out_dir, *, n_subjects, seed=0, nights_per_subject=(1, 2), hours=None,
                    emg_rate=1, first_subject=0, calibration="default"):
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
    first_subject : int
        Number of the first subject (e.g. 20 so simulated subjects never share a number with the 20 real
        Sleep-EDF-20 nights replayed beside them: subject-wise splits read the number from the file name).
    calibration : "default", TargetModel, path or None
        See :func:`~eeg_vlm.simulation.generator.simulate_epochs`.

    Returns
    -------
    list of pathlib.Path
        The PSG files, in subject/night order (each hypnogram sits beside its PSG).
    """
    _check_emg_rate(emg_rate)
    if not isinstance(n_subjects, (int, np.integer)) or not 1 <= n_subjects <= 100 - first_subject:
        raise ValueError(f"n_subjects: got {n_subjects!r} from subject {first_subject}; expected an integer with "
                         "first_subject + n_subjects <= 100 (two-digit Sleep-EDFx subject numbers); pass e.g. "
                         "n_subjects=4")
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
            stem = f"SC4{first_subject + subject:02d}{night}E"
            write_hypnogram(out_dir / f"{stem}{rng.choice(list(_LETTERS))}-Hypnogram.edf",
                            codes, start, patientname=name, sex=params["sex"])
            sig = _night_signals(codes, rng, params, emg_rate, calibration)
            paths.append(write_psg(out_dir / f"{stem}0-PSG.edf", sig, start,
                                    patientname=name, sex=params["sex"], emg_rate=emg_rate))
    return paths

