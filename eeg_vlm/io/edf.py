"""Read one channel of an EDF / EDF+ (continuous) / BDF file with pyedflib, with clear errors.

Only the chosen channel is read, so channels at other rates (1-Hz oximetry, 10-Hz respiration)
cost nothing. Used by :func:`eeg_vlm.io.load_recording`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np

from .channels import pick_eeg_channel
from .units import unit_to_uv_factor

__all__ = ["check_edf_file", "read_edf_channel"]

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
_HEADER_BYTES = 256


def _header_int(raw: bytes) -> int | None:
    try:
        return int(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None


def _check_size(path: Path, head: bytes, size: int, arg: str = "data") -> None:
    """Compare the file size with the one its header announces (a cut copy is the usual cause).

    Done here rather than left to pyedflib, whose C code prints the mismatch to stdout and then
    gives a terse error. Unparsable fields are left to pyedflib's own checks.
    """
    n_signals, n_records = _header_int(head[252:256]), _header_int(head[236:244])
    header_bytes = _header_int(head[184:192])
    if not n_signals or n_signals < 0 or not n_records or n_records < 1 or not header_bytes:
        return
    if header_bytes != _HEADER_BYTES * (n_signals + 1):
        return
    with open(path, "rb") as handle:
        handle.seek(_HEADER_BYTES + n_signals * 216)  # "samples per data record" fields
        fields = handle.read(8 * n_signals)
    samples = [_header_int(fields[i * 8:(i + 1) * 8]) for i in range(n_signals)]
    if len(fields) < 8 * n_signals or any(n is None or n < 0 for n in samples):
        return
    bytes_per_sample = 3 if head[:8] == _BDF_MAGIC else 2
    expected = header_bytes + n_records * sum(samples) * bytes_per_sample
    if size < expected:
        raise ValueError(
            f"{arg}: {str(path)!r} is truncated: {size} bytes, but its header announces {expected} "
            f"bytes ({n_records} data records). The copy or download was cut short: copy/download "
            f"it again."
        )
    if size > expected:
        raise ValueError(
            f"{arg}: {str(path)!r} has {size - expected} bytes more than its header announces "
            f"({expected} bytes for {n_records} data records): the header's record count is "
            f"wrong or data were appended. Re-export the file from the recording software."
        )


def check_edf_file(path: Path, *, arg: str = "data") -> None:
    """Refuse paths that are not a readable, continuous EDF/BDF file (before pyedflib sees them).

    Parameters
    ----------
    path : pathlib.Path
        File to check.
    arg : str
        Argument name that starts the error message (``"data"`` for :func:`load_recording`,
        ``"psg_path"``/``"hypnogram_path"`` for the dataset builder).

    Raises
    ------
    ValueError
        Missing path, directory, empty file, non-EDF/BDF content, truncated or over-long file,
        EDF+D/BDF+D.
    """
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise ValueError(
            f"{arg}: no file at {shown!r} (working directory {os.getcwd()!r}). Check the path and "
            f"pass an existing .edf file."
        )
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.edf"))[:5]
        hint = f" It holds for example: {', '.join(found)}." if found else ""
        raise ValueError(
            f"{arg}: {shown!r} is a directory, expected the path of one EDF file.{hint} Pass a "
            f"file path (the CLI also accepts several files or a glob such as DIR/*.edf)."
        )
    size = path.stat().st_size
    if size == 0:
        raise ValueError(
            f"{arg}: {shown!r} is empty (0 bytes), expected an EDF file. The copy or download was "
            f"probably interrupted: copy/download it again."
        )
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
    if len(head) < _HEADER_BYTES or head[:8] not in (_EDF_MAGIC, _BDF_MAGIC):
        raise ValueError(
            f"{arg}: {shown!r} is not an EDF/BDF file (it does not start with an EDF header; first "
            f"bytes {head[:16]!r}). Expected a European Data Format recording: export the night "
            f"as EDF from your acquisition software, or load it with MNE and pass the mne.io.Raw."
        )
    _check_size(path, head, size, arg)
    reserved = head[192:236]
    if reserved.startswith((b"EDF+D", b"BDF+D")):
        raise ValueError(
            f"{arg}: {shown!r} is a discontinuous EDF+D/BDF+D file (recording interrupted, with "
            f"gaps between its data records); expected a continuous EDF/EDF+C. Staging needs an "
            f"unbroken time axis: convert it to continuous segments (e.g. EDFbrowser: Tools > "
            f"'Convert EDF+D to EDF+C') and stage each segment."
        )


def read_edf_channel(path: Path, *, channel: str | int | None = None):
    """Read the EEG channel of an EDF/EDF+C/BDF file in microvolts.

    Parameters
    ----------
    path : pathlib.Path
        File to read.
    channel : str, int or None
        Channel name/index, or ``None`` for the preferred EEG channel (see
        :func:`eeg_vlm.io.channels.pick_eeg_channel`).

    Returns
    -------
    x : numpy.ndarray
        float64 signal in uV (physical dimension converted with
        :func:`eeg_vlm.io.units.unit_to_uv_factor`).
    sampling_rate : float
        Rate of that channel in Hz.
    name : str
        Its label.
    start_datetime : datetime.datetime or None
        Start of the recording from the header.
    source : str
        ``str(path)``.

    Raises
    ------
    ValueError
        Missing path, directory, empty, non-EDF, EDF+D, truncated or corrupt file; no EEG channel.
    """
    import pyedflib  # lazy: keep `import eeg_vlm.io` light

    check_edf_file(path)
    shown = str(path)
    try:
        reader = pyedflib.EdfReader(shown)
    except Exception as error:  # pyedflib raises OSError (and others) for malformed files
        raise ValueError(
            f"data: {shown!r} could not be read as EDF/BDF ({error}). The file is truncated or its "
            f"header is corrupt: copy/download it again or re-export it. If other viewers open it, "
            f"its header may hold non-ASCII text (e.g. 'µV'): load it with "
            f"mne.io.read_raw_edf(path) and pass the Raw instead."
        ) from error
    try:
        labels = [str(label) for label in reader.getSignalLabels()]
        if not labels:
            raise ValueError(
                f"data: {shown!r} holds no signals (only annotations, like a Sleep-EDFx "
                f"*-Hypnogram.edf); pass the PSG recording instead."
            )
        index = pick_eeg_channel(labels, channel=channel)
        name = labels[index]
        rate = float(reader.getSampleFrequency(index))
        factor = unit_to_uv_factor(reader.getPhysicalDimension(index), name=name)
        x = np.asarray(reader.readSignal(index), dtype=np.float64) * factor
        try:
            start: datetime | None = reader.getStartdatetime()
        except Exception:  # an unparsable start date does not prevent staging
            start = None
    finally:
        reader.close()
    return x, rate, name, start, shown
