"""Sleep-EDFx hypnograms for the night simulator: read, write and invent them.

Hypnograms are EDF+ files without signals whose annotations carry the R&K stages
('Sleep stage W/1/2/3/4/R/?', 'Movement time') in 30-s multiples, as in Sleep-EDFx.
Inside the simulator a night is a list of R&K codes, one per 30-s epoch:
``"W" "1" "2" "3" "4" "R" "M" "?"``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np
import pyedflib

__all__ = ["EPOCH_S", "RK_CODES", "read_hypnogram", "write_hypnogram", "random_hypnogram"]

log = logging.getLogger(__name__)
EPOCH_S = 30.0
#: Sleep-EDFx annotation text -> internal R&K code
RK_CODES = {"Sleep stage W": "W", "Sleep stage 1": "1", "Sleep stage 2": "2",
            "Sleep stage 3": "3", "Sleep stage 4": "4", "Sleep stage R": "R",
            "Sleep stage ?": "?", "Movement time": "M"}
_LABELS = {v: k for k, v in RK_CODES.items()}


def read_hypnogram(path):
    """Read a Sleep-EDFx hypnogram into one R&K code per 30-s epoch.

    Parameters
    ----------
    path : str or Path
        Annotation-only EDF+ (e.g. ``SC4001EC-Hypnogram.edf``).

    Returns
    -------
    codes : list of str
        One code per 30-s epoch from the first annotation onset; gaps between annotations and
        unknown texts become ``"?"``.
    start : datetime.datetime
        Start of the recording (the hypnogram's header start date/time).
    header : dict
        The pyedflib header (patient fields are copied into the simulated PSG).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"hypnogram_path: got {str(path)!r}, which does not exist; expected a "
                         "Sleep-EDFx *-Hypnogram.edf file; check the path")
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as err:
        raise ValueError(f"hypnogram_path: got {str(path)!r}, which pyedflib cannot read ({err}); "
                         "expected an EDF+ hypnogram; pass the *-Hypnogram.edf file") from err
    try:
        onsets, durations, texts = reader.readAnnotations()
        start, header = reader.getStartdatetime(), reader.getHeader()
    finally:
        reader.close()
    if len(onsets) == 0:
        raise ValueError(f"hypnogram_path: {str(path)!r} has no annotations; expected sleep-stage "
                         "annotations; pass a Sleep-EDFx *-Hypnogram.edf file")
    first = float(np.min(onsets))
    end = max(float(o + d) for o, d in zip(onsets, durations))
    codes = ["?"] * int(round((end - first) / EPOCH_S))
    for onset, duration, text in zip(onsets, durations, texts):
        code = RK_CODES.get(str(text).strip())
        if code is None:
            log.warning("hypnogram %s: unknown annotation %r at %.0f s treated as '?'",
                        path.name, text, onset)
            code = "?"
        i0 = int(round((onset - first) / EPOCH_S))
        codes[i0:i0 + int(round(duration / EPOCH_S))] = [code] * int(round(duration / EPOCH_S))
    return codes, start + dt.timedelta(seconds=first), header


def write_hypnogram(path, codes, start, *, patientname="X", sex=None):
    """Write R&K codes (one per 30-s epoch) as an annotation-only Sleep-EDFx EDF+ file, atomically.

    Parameters
    ----------
    path : str or Path
        Output file (``*-Hypnogram.edf``); replaced atomically.
    codes : sequence of str
        Internal R&K codes (see :data:`RK_CODES` values).
    start : datetime.datetime
        Recording start.
    patientname : str
        Patient name field, Sleep-EDFx style (e.g. ``"Female 33yr"``).
    sex : {"Female", "Male", None}
        Patient sex field.
    """
    path = Path(path)
    bad = sorted({c for c in codes if c not in _LABELS})
    if bad:
        raise ValueError(f"codes: got unknown stage codes {bad}; expected some of "
                         f"{sorted(_LABELS)}; map stages to R&K codes first")
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    writer = pyedflib.EdfWriter(str(tmp), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setStartdatetime(start)
        writer.setPatientName(patientname.replace(" ", "_"))  # EDF+ fields: '_' reads as ' '
        if sex is not None:
            writer.setSex(sex)
        i = 0
        while i < len(codes):  # one annotation per run of equal codes, as Sleep-EDFx does
            j = i
            while j < len(codes) and codes[j] == codes[i]:
                j += 1
            writer.writeAnnotation(i * EPOCH_S, (j - i) * EPOCH_S, _LABELS[codes[i]])
            i = j
    finally:
        writer.close()
    os.replace(tmp, path)
    return path


def _cycle(rng, k, n_cycles):
    """R&K codes of sleep cycle ``k`` (0-based, ~90 min): N2 descent, deep sleep early, REM late."""
    ep = lambda minutes: max(1, int(round(minutes * 2)))  # minutes -> 30-s epochs
    length = rng.normal(95, 8)
    deep = max(0.0, rng.normal([32, 16, 6, 1, 0, 0][min(k, 5)], 5))  # min of S3+S4
    rem = max(2.0, rng.normal(6 + 7 * k, 4))  # REM lengthens through the night
    n1 = rng.uniform(1, 6) if k == 0 else rng.uniform(0.5, 2)
    wake = rng.uniform(0.5, 2.5) if rng.random() < 0.5 else 0.0  # brief awakening at cycle end
    n2 = max(10.0, length - deep - rem - n1 - wake)
    out = ["1"] * ep(n1) + ["2"] * ep(0.75 * n2 if deep >= 2 else n2)
    if deep >= 2:
        s4 = deep * rng.uniform(0.3, 0.6) if k < 2 else deep * rng.uniform(0, 0.3)
        out += ["3"] * ep((deep - s4) / 2) + ["4"] * ep(s4) + ["3"] * ep((deep - s4) / 2)
        out += ["2"] * ep(0.25 * n2)
    out += ["R"] * ep(rem)
    if wake:
        out += ["W"] * ep(wake) + ["1"] * ep(rng.uniform(0.5, 2))
    return out


def random_hypnogram(rng, *, hours=None):
    """Invent a plausible night of R&K codes (one per 30-s epoch).

    About 90-min cycles with slow-wave sleep in the first two cycles and longer REM later,
    10-30 min sleep-onset latency, brief awakenings with N1 on the way back, stage flickers
    (N2<->N1, N3<->N2), occasional movement time, and wake before lights-off and after the
    final awakening; about 9-10 h in all.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (deterministic for a seed).
    hours : float, optional
        Keep only this many hours starting 5 min before sleep onset (quick tests);
        None keeps the whole night.

    Returns
    -------
    list of str
    """
    ep = lambda minutes: max(1, int(round(minutes * 2)))
    codes = ["W"] * ep(rng.uniform(20, 50)) + ["W"] * ep(rng.uniform(10, 30))  # in bed + latency
    n_cycles = 5  # 5 cycles of ~90 min: 7-8 h of sleep, 9-10 h in all
    for k in range(n_cycles):
        codes += _cycle(rng, k, n_cycles)
    codes += ["W"] * ep(rng.uniform(15, 45))
    codes = np.array(codes)
    sleep = np.flatnonzero(codes != "W")
    inner = sleep[(sleep > sleep[0] + 10) & (sleep < sleep[-1] - 10)]
    for i in rng.choice(inner, size=min(len(inner), int(rng.integers(15, 40))), replace=False):
        codes[i] = {"2": "1", "3": "2", "4": "3", "1": "2", "R": "1"}.get(codes[i], codes[i])
    for i in rng.choice(inner, size=min(len(inner), int(rng.integers(1, 5))), replace=False):
        codes[i:i + 1] = "M"  # movement time, as the cassette scorers marked it
    awake = rng.choice(inner, size=int(rng.integers(2, 6)), replace=False)
    for i in awake:  # spontaneous awakenings mid-cycle, re-entering through N1
        codes[i:i + 3] = ["W", "W", "1"][: len(codes[i:i + 3])]
    out = list(codes)
    if hours is not None:
        first = max(0, int(sleep[0]) - 10)  # 10 epochs = 5 min of wake before sleep onset
        out = out[first: first + max(1, int(hours * 3600 / EPOCH_S))]
    return out
