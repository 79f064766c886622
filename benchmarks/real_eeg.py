"""Load the DREAMS Sleep Spindles excerpts (../shared/data/dreams-spindles) for evaluation only.

Used by ``benchmarks/compare_yasa.py``; quick look at one excerpt (from the project root)::

    python benchmarks/real_eeg.py 3

DREAMS is CC BY-NC-ND (non-commercial, no derivatives): this module reads the files where they lie, at run
time, and never copies, renders or writes anything from them. It is never used to train a model.

Format (``../shared/README.md``): ``excerptN.txt`` holds one EEG channel, a header line ``[C3-A1]`` or
``[CZ-A1]`` and then one value in uV per line; ``Hypnogram_excerptN.txt`` holds a ``[Hypnogram]`` header and one
R&K stage per 5-s epoch (5 = wake, 4 = REM, 3 = S1, 2 = S2, 1 = S3, 0 = S4, negative = unknown).
The files do not state their sampling rate: it comes from the database documentation (:data:`SAMPLING_RATES`)
and is checked against the number of samples and of 5-s stages.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DREAMS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "dreams-spindles"
SAMPLING_RATES = {1: 100.0, 2: 200.0, 3: 50.0, 4: 200.0}  # Hz, per excerpt (DREAMS documentation)
RK_TO_AASM = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}  # S3 + S4 = AASM N3; negative -> unknown
LABEL_SEC = 5.0  # DREAMS scores 5-s epochs
EPOCH_SEC = 30.0  # AASM epoch: six 5-s labels
STAGES = ("W", "N1", "N2", "N3", "REM")


class DreamsMissingError(FileNotFoundError):
    """The DREAMS folder or one of its files is absent (a fresh clone has no ../shared)."""


@dataclass(frozen=True)
class Excerpt:
    """One DREAMS excerpt: the EEG and its 30-s AASM stages.

    Attributes
    ----------
    number : int
        Excerpt number (1-8 in the database; 1-4 have sleep stages here).
    signal_uv : numpy.ndarray
        ``(n_samples,)`` float64 EEG in uV at ``sampling_rate``.
    sampling_rate : float
        Hz (100, 200, 50, 200 for excerpts 1-4).
    channel : str
        Channel name from the file header, e.g. ``"C3-A1"``.
    stages : tuple of (str or None)
        One AASM stage (``W N1 N2 N3 REM``) per 30-s epoch from the start, None where unknown.
    """

    number: int
    signal_uv: np.ndarray
    sampling_rate: float
    channel: str
    stages: tuple

    @property
    def n_epochs(self) -> int:
        """Number of whole 30-s epochs (scored or not)."""
        return len(self.stages)

    @property
    def scored(self) -> np.ndarray:
        """Boolean mask of the epochs with a known stage (the ones to evaluate)."""
        return np.array([s is not None for s in self.stages], dtype=bool)


def require_dreams(data_dir=None) -> Path:
    """The DREAMS folder, or :class:`DreamsMissingError` with a message that says what to do."""
    path = Path(DREAMS_DIR if data_dir is None else data_dir)
    if not path.is_dir():
        raise DreamsMissingError(
            f"DREAMS data missing: {path} does not exist. The benchmark reads the DREAMS Sleep Spindles excerpts from "
            "../shared/data/dreams-spindles beside the project root (not shipped: CC BY-NC-ND); place the database "
            "there (excerptN.txt, Hypnogram_excerptN.txt) or pass its folder.")
    return path


def majority_stages(rk_codes, *, labels_per_epoch: int = int(EPOCH_SEC / LABEL_SEC)) -> list:
    """30-s AASM stages from 5-s R&K codes: the majority of each group of six.

    Parameters
    ----------
    rk_codes : sequence of int
        R&K code per 5-s epoch (5 W, 4 REM, 3 S1, 2 S2, 1 S3, 0 S4, negative unknown).
    labels_per_epoch : int
        5-s labels per 30-s epoch (6).

    Returns
    -------
    list of (str or None)
        One stage per whole 30-s epoch; None when the majority is unknown. Codes are mapped to AASM first, so
        S3 and S4 vote together for N3. A tie (none occurs in excerpts 1-4) goes to the tied stage that comes
        first in time within the epoch.
    """
    codes = np.asarray(rk_codes)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"rk_codes: received an array of shape {codes.shape} and dtype {codes.dtype}, expected a "
                         "1-D sequence of integer R&K codes (5, 4, 3, 2, 1, 0 or negative for unknown).")
    unexpected = sorted({int(c) for c in codes if c > 5})
    if unexpected:
        raise ValueError(f"rk_codes: received codes {unexpected}, expected R&K codes 0-5 or negative (unknown).")
    aasm = [RK_TO_AASM.get(int(c)) for c in codes]  # negative -> None
    out = []
    for start in range(0, len(aasm) - labels_per_epoch + 1, labels_per_epoch):
        group = aasm[start : start + labels_per_epoch]
        counts = Counter(group)
        best = max(counts.values())
        out.append(next(s for s in group if counts[s] == best))  # earliest of the tied winners
    return out


def load_excerpt(number: int, *, data_dir=None) -> Excerpt:
    """Read DREAMS excerpt ``number`` with its 30-s AASM stages.

    Parameters
    ----------
    number : int
        1-4 (the excerpts with a known sampling rate and a hypnogram).
    data_dir : str or pathlib.Path, optional
        DREAMS folder (default: ``../shared/data/dreams-spindles`` beside the project root).

    Returns
    -------
    Excerpt
        The signal is kept whole (a trailing part shorter than 30 s is dropped); ``stages`` covers the whole
        30-s epochs that both the signal and the hypnogram span.
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or int(number) not in SAMPLING_RATES:
        raise ValueError(f"number: received {number!r}, expected one of {sorted(SAMPLING_RATES)} (the DREAMS "
                         "excerpts with a documented sampling rate and a hypnogram).")
    number = int(number)
    folder = require_dreams(data_dir)
    eeg_path, hyp_path = folder / f"excerpt{number}.txt", folder / f"Hypnogram_excerpt{number}.txt"
    for path in (eeg_path, hyp_path):
        if not path.is_file():
            raise DreamsMissingError(f"DREAMS data missing: {path} does not exist in {folder}; the folder should "
                                     "hold excerptN.txt and Hypnogram_excerptN.txt for N = 1-4.")
    with open(eeg_path, encoding="ascii") as handle:
        header = handle.readline().strip()
    if not (header.startswith("[") and header.endswith("]")):
        raise ValueError(f"{eeg_path}: first line is {header!r}, expected a channel header such as '[C3-A1]'.")
    signal = np.loadtxt(eeg_path, skiprows=1, dtype=np.float64)
    codes = np.loadtxt(hyp_path, skiprows=1, dtype=np.float64)
    if not np.all(codes == np.round(codes)):
        raise ValueError(f"{hyp_path}: holds non-integer stage codes, expected R&K codes 0-5 or negative.")
    fs = SAMPLING_RATES[number]
    signal_sec, hyp_sec = len(signal) / fs, len(codes) * LABEL_SEC
    if abs(signal_sec - hyp_sec) > EPOCH_SEC:  # a rate error would show as a 2x or 4x mismatch
        raise ValueError(f"{eeg_path}: {len(signal)} samples at {fs:g} Hz last {signal_sec:.0f} s but the hypnogram "
                         f"covers {hyp_sec:.0f} s; the documented sampling rate does not fit this file.")
    n_epochs = int(min(signal_sec, hyp_sec) // EPOCH_SEC)
    stages = majority_stages(codes.astype(int))[:n_epochs]
    n_keep = int(round(n_epochs * EPOCH_SEC * fs))
    return Excerpt(number=number, signal_uv=signal[:n_keep].copy(), sampling_rate=fs, channel=header[1:-1],
                   stages=tuple(stages))


def main(argv=None) -> int:
    numbers = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or sorted(SAMPLING_RATES)
    try:
        for number in numbers:
            ex = load_excerpt(number)
            counts = Counter(s for s in ex.stages if s is not None)
            print(f"excerpt{number}: {ex.channel} at {ex.sampling_rate:g} Hz, {len(ex.signal_uv)} samples, "
                  f"{ex.n_epochs} epochs ({int(ex.scored.sum())} scored) "
                  + " ".join(f"{s}={counts.get(s, 0)}" for s in STAGES))
    except DreamsMissingError as err:
        print(f"SKIPPED: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
