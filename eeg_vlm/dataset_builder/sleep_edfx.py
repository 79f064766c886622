"""Read Sleep-EDFx nights (PSG + expert hypnogram) with the standard staging protocol.

Protocol (as in Supratak et al. 2017, DeepSleepNet, and the MNE/YASA Sleep-EDFx pipelines):

- PSG ``SC4ssNE0-PSG.edf`` pairs with hypnogram ``SC4ssN??-Hypnogram.edf`` by the first six characters
  (``ST7ssNJ0-PSG.edf`` with ``ST7ssNJ?-Hypnogram.edf`` for the telemetry subset).
- R&K stages map to AASM: W -> W, 1 -> N1, 2 -> N2, 3 and 4 -> N3, R -> REM.
- Each annotation is cut into 30-s epochs starting at its onset; ``Movement time`` and ``Sleep stage ?``
  (and any unknown label) are excluded and counted.
- Wake is kept only from 30 min before the first to 30 min after the last sleep epoch.
- Annotations that run past the end of the signal are cut with a logged warning.

For the genuine ``SC4001EC-Hypnogram.edf`` this gives 841 epochs: W 188, N1 58, N2 250, N3 220, REM 125::

    python -c "from eeg_vlm.dataset_builder.sleep_edfx import *; \
print(hypnogram_to_epochs(read_hypnogram('../shared/data/sleep-edfx/SC4001EC-Hypnogram.edf')).counts())"
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyedflib

from ..io.edf import check_edf_file

logger = logging.getLogger(__name__)

__all__ = [
    "CHANNELS",
    "RK_TO_AASM",
    "STAGES",
    "EXCLUDED_LABELS",
    "EpochTable",
    "Night",
    "NightFiles",
    "hypnogram_to_epochs",
    "open_edf",
    "pair_files",
    "read_hypnogram",
    "read_night",
]

STAGES = ("W", "N1", "N2", "N3", "REM")
RK_TO_AASM = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",  # AASM merges R&K stages 3 and 4 into N3
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
}
EXCLUDED_LABELS = ("Movement time", "Sleep stage ?")
# The four Sleep-EDFx signal labels this project reads (the PSG files also hold respiration, temperature and
# an event marker, which staging does not use).
CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
_PSG_RE = re.compile(r"^(?P<key>S[CT]\d(?P<subject>\d\d)(?P<night>\d))..-PSG\.edf$")
_HYP_RE = re.compile(r"^(?P<key>S[CT]\d(?P<subject>\d\d)(?P<night>\d))..-Hypnogram\.edf$")
_TOL_S = 1e-6  # seconds: tolerance when comparing annotation times (EDF+ stores them as decimal text)


@dataclass(frozen=True)
class NightFiles:
    """One Sleep-EDFx night: subject number, night (1 or 2), the PSG and hypnogram paths, name e.g. 'SC4001'."""

    subject: int
    night: int
    psg: Path
    hypnogram: Path
    name: str


@dataclass
class EpochTable:
    """Scored 30-s epochs of one night.

    Attributes
    ----------
    onset_s : numpy.ndarray of float
        Epoch onsets in seconds from the hypnogram start (or the PSG start once aligned by :func:`read_night`).
    stage : list of str
        AASM stage per epoch, one of ``STAGES``.
    excluded : dict
        Number of 30-s epochs not used per label (``Movement time``, ``Sleep stage ?``, unknown labels),
        counted over the recorded part of the night (before the wake trim).
    wake_trimmed : int
        Wake epochs dropped by the 30-min rule.
    cut_past_signal : int
        Epochs dropped because their annotation ran outside the signal.
    """

    onset_s: np.ndarray
    stage: list
    excluded: dict = field(default_factory=dict)
    wake_trimmed: int = 0
    cut_past_signal: int = 0

    def __len__(self) -> int:
        return len(self.stage)

    def counts(self) -> dict:
        """Number of epochs per stage, in ``STAGES`` order (zeros included)."""
        return {s: int(sum(1 for x in self.stage if x == s)) for s in STAGES}


def pair_files(directory: str | os.PathLike) -> list[NightFiles]:
    """Pair ``*-PSG.edf`` and ``*-Hypnogram.edf`` files of a folder by their first six characters.

    Parameters
    ----------
    directory : path
        Folder holding Sleep-EDFx files (e.g. the output of ``download``).

    Returns
    -------
    list of NightFiles
        Sorted by name; files without a partner are skipped with a logged warning.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"directory: {str(folder)!r} is not a folder; pass the folder holding the EDF files.")
    psg: dict[str, Path] = {}
    hyp: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        for regex, table in ((_PSG_RE, psg), (_HYP_RE, hyp)):
            m = regex.match(path.name)
            if m is None:
                continue
            if m.group("key") in table:
                logger.warning("Two files for night %s: %s and %s; keeping the first.",
                               m.group("key"), table[m.group("key")].name, path.name)
                continue
            table[m.group("key")] = path
    out = []
    for key in sorted(set(psg) | set(hyp)):
        if key not in hyp:
            logger.warning("%s has no matching %s??-Hypnogram.edf; skipped.", psg[key].name, key)
            continue
        if key not in psg:
            logger.warning("%s has no matching %s??-PSG.edf; skipped.", hyp[key].name, key)
            continue
        out.append(NightFiles(subject=int(key[3:5]), night=int(key[5]), psg=psg[key], hypnogram=hyp[key],
                              name=key))
    return out


def open_edf(path: Path, arg: str) -> pyedflib.EdfReader:
    """Open an EDF with pyedflib after :func:`eeg_vlm.io.edf.check_edf_file`; its errors become ValueError."""
    check_edf_file(path, arg=arg)
    try:
        return pyedflib.EdfReader(str(path))
    except Exception as error:  # pyedflib raises OSError (and others) for malformed headers
        raise ValueError(
            f"{arg}: {str(path)!r} could not be read as EDF ({error}), expected a Sleep-EDFx EDF/EDF+ file. Its "
            "header is corrupt: download it again (`python -m eeg_vlm.dataset_builder download` verifies the "
            "SHA-256) or remove it from the source folder."
        ) from error


def read_hypnogram(path: str | os.PathLike, *, _arg: str = "path") -> list[tuple[float, float, str]]:
    """Read the annotations of an EDF+ hypnogram as ``(onset_s, duration_s, label)`` tuples."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{_arg}: hypnogram {str(p)!r} not found; pass an existing *-Hypnogram.edf file.")
    with open_edf(p, _arg) as reader:
        onsets, durations, labels = reader.readAnnotations()
    return [(float(o), float(d), str(lab).strip()) for o, d, lab in zip(onsets, durations, labels)]


def hypnogram_to_epochs(annotations, *, epoch_sec: float = 30.0, signal_duration: float | None = None,
                        wake_margin_min: float | None = 30.0) -> EpochTable:
    """Cut hypnogram annotations into scored AASM epochs with the standard Sleep-EDFx protocol.

    Parameters
    ----------
    annotations : iterable of (onset_s, duration_s, label)
        As returned by :func:`read_hypnogram` (seconds; R&K labels).
    epoch_sec : float
        Epoch length in seconds (30-s epochs in Sleep-EDFx).
    signal_duration : float, optional
        Signal length in seconds on the same time axis; epochs outside ``[0, signal_duration]`` are cut
        with a logged warning. None keeps all epochs.
    wake_margin_min : float or None
        Minutes of wake kept before the first and after the last sleep epoch (30 min in the standard
        protocol). None keeps all wake.

    Returns
    -------
    EpochTable
    """
    if not epoch_sec > 0:
        raise ValueError(f"epoch_sec: got {epoch_sec!r}; expected a positive number of seconds such as 30.0.")
    if wake_margin_min is not None and wake_margin_min < 0:
        raise ValueError(f"wake_margin_min: got {wake_margin_min!r}; expected >= 0 minutes, or None.")
    if signal_duration is not None and not signal_duration >= 0:
        raise ValueError(f"signal_duration: got {signal_duration!r}; expected seconds >= 0, or None.")
    onsets: list[float] = []
    stages: list[str] = []
    excluded: dict[str, int] = {}
    cut = 0
    rows = sorted(((float(o), float(d), str(lab).strip()) for o, d, lab in annotations), key=lambda r: r[0])
    for onset, duration, label in rows:
        n_full = int(np.floor(duration / epoch_sec + _TOL_S))
        leftover = duration - n_full * epoch_sec
        if leftover > _TOL_S:
            logger.warning("Annotation %r at %.1f s lasts %.1f s, not a multiple of %.0f s; the last %.1f s "
                           "are not scored.", label, onset, duration, epoch_sec, leftover)
        starts = onset + epoch_sec * np.arange(n_full)
        if signal_duration is not None:
            inside = (starts >= -_TOL_S) & (starts + epoch_sec <= signal_duration + _TOL_S)
            if not inside.all():
                n_out = int((~inside).sum())
                cut += n_out
                logger.warning("Annotation %r (%.1f s to %.1f s) runs outside the signal (0 to %.1f s); "
                               "%d epoch(s) cut.", label, onset, onset + duration, signal_duration, n_out)
                starts = starts[inside]
        stage = RK_TO_AASM.get(label)
        if stage is None:
            if label not in EXCLUDED_LABELS and label not in excluded:
                logger.warning("Unknown hypnogram label %r at %.1f s; its epochs are excluded and counted.",
                               label, onset)
            excluded[label] = excluded.get(label, 0) + len(starts)
            continue
        onsets.extend(starts.tolist())
        stages.extend([stage] * len(starts))
    onset_arr = np.asarray(onsets, dtype=float)
    keep = np.ones(len(stages), dtype=bool)
    is_sleep = np.array([s != "W" for s in stages], dtype=bool)
    if wake_margin_min is not None and len(stages):
        if is_sleep.any():
            margin = 60.0 * wake_margin_min
            first = onset_arr[is_sleep].min() - margin
            last = onset_arr[is_sleep].max() + epoch_sec + margin
            keep = is_sleep | ((onset_arr >= first - _TOL_S) & (onset_arr + epoch_sec <= last + _TOL_S))
        else:
            logger.warning("The hypnogram holds no sleep epoch; the wake trim is skipped and all %d wake "
                           "epochs are kept.", len(stages))
    return EpochTable(onset_s=onset_arr[keep], stage=[s for s, k in zip(stages, keep) if k], excluded=excluded,
                      wake_trimmed=int((~keep).sum()), cut_past_signal=cut)


@dataclass
class Night:
    """One scored night read from a Sleep-EDFx PSG + hypnogram pair.

    Attributes
    ----------
    signals : dict of str -> numpy.ndarray
        Channel label -> float32 array (n_epochs, samples_per_epoch) in uV, one row per scored epoch.
    sampling_rates : dict of str -> float
        Channel label -> sampling rate in Hz.
    stages : list of str
        AASM stage per epoch.
    epoch_onsets : numpy.ndarray
        Epoch onsets in seconds from the PSG start.
    excluded : dict
        Excluded-epoch counts per label (see :class:`EpochTable`).
    subject, night : int
    name : str
        e.g. ``"SC4001"``.
    start_datetime : datetime.datetime
        PSG start.
    continuous : dict of str -> numpy.ndarray
        Channel label -> the whole recording, 1-D float32 in uV (for context windows).
    epoch_starts_samples : dict of str -> numpy.ndarray
        Channel label -> first sample of each scored epoch in ``continuous[label]``.
    """

    signals: dict
    sampling_rates: dict
    stages: list
    epoch_onsets: np.ndarray
    excluded: dict
    subject: int
    night: int
    name: str
    start_datetime: _dt.datetime
    continuous: dict
    epoch_starts_samples: dict
    epoch_sec: float = 30.0

    def __len__(self) -> int:
        return len(self.stages)

    def epoch_with_context(self, channel: str, index: int, *, context: int = 1) -> np.ndarray:
        """Signal of epoch ``index`` with ``context`` epochs either side, 1-D float32 in uV.

        The window is cut from the continuous recording (neighbours are the real surrounding signal, scored
        or not); parts that fall before the start or after the end of the recording are zero-padded, so
        the output always has ``(2 * context + 1) * samples_per_epoch`` samples.
        """
        if channel not in self.continuous:
            raise ValueError(f"channel: got {channel!r}; this night holds {sorted(self.continuous)}.")
        if not -len(self) <= index < len(self):
            raise ValueError(f"index: got {index}; expected 0 <= index < {len(self)} (number of epochs).")
        if context < 0:
            raise ValueError(f"context: got {context}; expected 0 or more neighbouring epochs.")
        spe = self.signals[channel].shape[1]
        raw = self.continuous[channel]
        start = int(self.epoch_starts_samples[channel][index]) - context * spe
        stop = start + (2 * context + 1) * spe
        out = np.zeros(stop - start, dtype=np.float32)
        lo, hi = max(start, 0), min(stop, raw.size)
        if hi > lo:
            out[lo - start:hi - start] = raw[lo:hi]
        return out


def _uv_scale(dimension: str, label: str) -> float:
    """Factor that converts an EDF physical dimension to uV."""
    dim = dimension.strip()
    low = dim.lower()
    if low in ("uv", "µv", "μv", "mcv"):
        return 1.0
    if low == "mv":
        return 1e3
    if low == "v":
        return 1e6
    if low == "nv":
        return 1e-3
    if len(dim) == 2 and dim[1] in "vV" and not dim[0].isascii():
        return 1.0  # a mangled micro sign (pyedflib does not keep non-ASCII dimensions)
    logger.warning("Channel %r has physical dimension %r; assuming uV.", label, dimension)
    return 1.0


def read_night(psg_path: str | os.PathLike, hypnogram_path: str | os.PathLike, *,
               channels=("EEG Fpz-Cz",), epoch_sec: float = 30.0,
               wake_margin_min: float | None = 30.0) -> Night:
    """Read a Sleep-EDFx night: the requested channels in uV, cut into the scored 30-s epochs.

    Parameters
    ----------
    psg_path, hypnogram_path : path
        ``*-PSG.edf`` and its ``*-Hypnogram.edf``; the subject and night come from the PSG name.
    channels : sequence of str
        Signal labels, e.g. ``("EEG Fpz-Cz", "EOG horizontal", "EMG submental")``.
    epoch_sec : float
        Epoch length in seconds.
    wake_margin_min : float or None
        Wake kept around sleep (see :func:`hypnogram_to_epochs`).

    Returns
    -------
    Night
    """
    psg = Path(psg_path)
    if not psg.is_file():
        raise ValueError(f"psg_path: {str(psg)!r} not found; pass an existing *-PSG.edf file.")
    m = re.match(r"^S[CT]\d(\d\d)(\d)", psg.name)
    if m is None:
        raise ValueError(f"psg_path: {psg.name!r} is not a Sleep-EDFx name (e.g. 'SC4001E0-PSG.edf'); rename "
                         "the file so its first six characters give subset, subject and night.")
    if isinstance(channels, str):
        channels = (channels,)
    channels = tuple(channels)
    if not channels:
        raise ValueError("channels: got an empty selection; pass e.g. ('EEG Fpz-Cz',).")
    if Path(hypnogram_path).name[:6] != psg.name[:6]:
        logger.warning("%s and %s name different nights (first six characters differ); reading them together "
                       "anyway.", psg.name, Path(hypnogram_path).name)
    annotations = read_hypnogram(hypnogram_path, _arg="hypnogram_path")
    with open_edf(Path(hypnogram_path), "hypnogram_path") as hreader:
        hyp_start = hreader.getStartdatetime()
    with open_edf(psg, "psg_path") as reader:
        labels = [lab.strip() for lab in reader.getSignalLabels()]
        start = reader.getStartdatetime()
        missing = [c for c in channels if c not in labels]
        if missing:
            raise ValueError(f"channels: {missing} not in {psg.name}; available channels: {labels}. Pass "
                             "channels= with labels from that list.")
        continuous: dict[str, np.ndarray] = {}
        rates: dict[str, float] = {}
        for ch in channels:
            i = labels.index(ch)
            rates[ch] = float(reader.getSampleFrequency(i))
            scale = _uv_scale(reader.getPhysicalDimension(i), ch)
            continuous[ch] = (reader.readSignal(i) * scale).astype(np.float32)
    offset = (hyp_start - start).total_seconds()
    if abs(offset) > _TOL_S:
        logger.warning("%s starts at %s but its hypnogram at %s; aligning the hypnogram by %+.1f s.",
                       psg.name, start, hyp_start, offset)
    shifted = [(o + offset, d, lab) for o, d, lab in annotations]
    duration = min(continuous[ch].size / rates[ch] for ch in channels)
    scored_end = max((o + d for o, d, _ in shifted), default=0.0)
    if scored_end < duration - epoch_sec:  # a hypnogram shorter than the PSG: the unscored tail is not used
        logger.warning("%s: the hypnogram ends at %.1f s, %.1f s before the end of the PSG (%.1f s); the "
                       "unscored tail is not used.", psg.name, scored_end, duration - scored_end, duration)
    table = hypnogram_to_epochs(shifted, epoch_sec=epoch_sec, signal_duration=duration,
                                wake_margin_min=wake_margin_min)
    if not len(table):
        raise ValueError(
            f"hypnogram_path: {Path(hypnogram_path).name} scores no epoch inside {psg.name} (PSG 0 to {duration:.1f} "
            f"s; hypnogram {min((o for o, _, _ in shifted), default=0.0):+.1f} to {scored_end:+.1f} s after "
            f"alignment, excluded labels {table.excluded}), expected at least one scored 30-s epoch. Check that "
            "the two files belong to the same night (start times in their headers), or remove the pair."
        )
    signals: dict[str, np.ndarray] = {}
    starts: dict[str, np.ndarray] = {}
    for ch in channels:
        spe_f = epoch_sec * rates[ch]
        spe = int(round(spe_f))
        if abs(spe - spe_f) > 1e-6:
            raise ValueError(f"epoch_sec: {epoch_sec} s at {rates[ch]} Hz ({ch!r}) is not a whole number of "
                             "samples; choose an epoch length that is.")
        first = np.rint(table.onset_s * rates[ch]).astype(np.int64)
        first = np.clip(first, 0, max(continuous[ch].size - spe, 0))  # guards float rounding at the very end
        starts[ch] = first
        signals[ch] = continuous[ch][first[:, None] + np.arange(spe)[None, :]] if len(first) else \
            np.zeros((0, spe), dtype=np.float32)
    return Night(signals=signals, sampling_rates=rates, stages=list(table.stage), epoch_onsets=table.onset_s.copy(),
                 excluded=dict(table.excluded), subject=int(m.group(1)), night=int(m.group(2)), name=psg.name[:6],
                 start_datetime=start, continuous=continuous, epoch_starts_samples=starts, epoch_sec=float(epoch_sec))
