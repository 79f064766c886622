"""EOG and chin EMG of a night, cut into the same 30-s epochs as the EEG, for the grounded explanations.

The stage head sees only the EEG image; the Chain-of-Thought also cites rapid eye movements (EOG) and chin tone
(EMG). When the EDF has those channels (Sleep-EDFx: ``EOG horizontal`` at 100 Hz, ``EMG submental`` as a 1-Hz
envelope) they are read here; when it has not (DREAMS excerpts, many home montages) the explanation says
"no EOG channel" / "no EMG channel" instead of guessing.

>>> from eeg_vlm.io.eog_emg import read_eog_emg
>>> eog, emg, names = read_eog_emg("SC4001E0-PSG.edf", n_epochs=841)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from .channels import normalise_channel_name
from .units import unit_to_uv_factor

logger = logging.getLogger(__name__)

__all__ = ["find_emg_channel", "find_eog_channel", "read_eog_emg"]

# horizontal EOG first (rapid eye movements are mostly horizontal), then any EOG; LOC/ROC and E1/E2 are the
# AASM names of the left/right outer-canthus electrodes
_EOG = (re.compile(r"EOG.*(HOR|HEOG)|HEOG"), re.compile(r"EOG|^(LOC|ROC|E1|E2)([-:]|$)"))
# chin (submental) EMG; leg EMG (tibialis, "LEG", "LAT/RAT") is never taken for chin tone
_EMG = (re.compile(r"(EMG.*(CHIN|SUBMENT|SUB|MENT))|CHIN"), re.compile(r"^EMG$|^EMG[- ]?[0-9]?$|^EMG[-:]"))
_NOT_CHIN = re.compile(r"LEG|TIB|LAT|RAT|ARM|ECG|EKG")
_MIN_EOG_RATE = 20.0  # Hz: a rapid eye movement lasts ~0.5 s; the detector needs >= 20 Hz


def _find(labels, patterns, exclude=None) -> int | None:
    names = [normalise_channel_name(label) for label in labels]
    for pattern in patterns:
        for i, name in enumerate(names):
            if pattern.search(name) and not (exclude and exclude.search(name)):
                return i
    return None


def find_eog_channel(labels) -> int | None:
    """Index of the EOG channel among ``labels`` (horizontal first), or None."""
    return _find(labels, _EOG)


def find_emg_channel(labels) -> int | None:
    """Index of the chin (submental) EMG channel among ``labels``, or None (leg EMG is never chosen)."""
    return _find(labels, _EMG, _NOT_CHIN)


def _epochs(x: np.ndarray, rate: float, n_epochs: int, epoch_sec: float, name: str) -> np.ndarray | None:
    per_epoch = rate * epoch_sec
    if abs(per_epoch - round(per_epoch)) > 1e-6 or len(x) < n_epochs * round(per_epoch):
        logger.warning("%s (%g Hz, %.0f s) does not cover the %d EEG epochs in whole samples; not used.",
                       name, rate, len(x) / rate, n_epochs)
        return None
    spe = int(round(per_epoch))
    return x[: n_epochs * spe].reshape(n_epochs, spe)  # (E, S)


def read_eog_emg(path, *, n_epochs: int, epoch_sec: float = 30.0):
    """Read the EOG and chin EMG of an EDF/BDF night in uV, cut into ``n_epochs`` 30-s epochs.

    Parameters
    ----------
    path : str or pathlib.Path
        The night's EDF/BDF file (already checked by :func:`eeg_vlm.io.load_recording`).
    n_epochs : int
        Number of EEG epochs (the EOG/EMG are cut to the same epochs from the recording start).
    epoch_sec : float
        Epoch length in seconds (30 s).

    Returns
    -------
    eog : numpy.ndarray of shape (n_epochs, samples per epoch) or None
        EOG in uV at its own rate, None when absent or slower than 20 Hz.
    emg : numpy.ndarray of shape (n_epochs, samples per epoch) or None
        Chin EMG in uV at its own rate (a 1-Hz envelope as in Sleep-EDFx, or raw), None when absent.
    names : dict
        ``{"eog": label or None, "emg": label or None}``.
    """
    import pyedflib  # lazy: keep `import eeg_vlm.io` light

    if not isinstance(n_epochs, (int, np.integer)) or n_epochs < 0:
        raise ValueError(f"n_epochs: received {n_epochs!r}, expected a whole number of 30-s epochs >= 0.")
    out, names = {"eog": None, "emg": None}, {"eog": None, "emg": None}
    with pyedflib.EdfReader(str(Path(path))) as reader:
        labels = [str(label) for label in reader.getSignalLabels()]
        for kind, index in (("eog", find_eog_channel(labels)), ("emg", find_emg_channel(labels))):
            if index is None:
                continue
            name, rate = labels[index], float(reader.getSampleFrequency(index))
            if kind == "eog" and rate < _MIN_EOG_RATE:
                logger.warning("EOG %r is sampled at %g Hz, below the %g Hz rapid eye movements need; not used.",
                               name, rate, _MIN_EOG_RATE)
                continue
            x = np.asarray(reader.readSignal(index), dtype=np.float64)
            x = x * unit_to_uv_factor(reader.getPhysicalDimension(index), name=name)
            epochs = _epochs(x, rate, n_epochs, epoch_sec, name)
            if epochs is not None and np.isfinite(epochs).all():
                out[kind], names[kind] = epochs, name
    return out["eog"], out["emg"], names
