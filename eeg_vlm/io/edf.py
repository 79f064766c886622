"""Read one channel of an EDF / EDF+ / BDF file with pyedflib, with clear errors and lenient fallbacks.

Only the chosen channel is read, so channels at other rates (1-Hz oximetry, 10-Hz respiration)
cost nothing. Used by :func:`eeg_vlm.io.load_recording`.

Real-world files: a header that pyedflib refuses as not EDF/BDF compliant (a date written ``01.02.03``,
``µV`` or other non-ASCII text, a record count of -1, ...) is read with MNE's more lenient reader, with a
warning that names what pyedflib objected to; a discontinuous EDF+D/BDF+D file is cut into its continuous
segments (from the data records' time stamps) and its longest segment is read, with a warning.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .channels import pick_eeg_channel
from .units import unit_to_uv_factor

logger = logging.getLogger(__name__)

__all__ = ["check_edf_file", "continuous_segments", "read_edf_channel"]

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
_HEADER_BYTES = 256
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_RECORD_ONSET = re.compile(rb"^\x00*([+-]\d+(?:\.\d*)?)\x14")  # a data record's time stamp: its first TAL


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


def check_edf_file(path: Path, *, arg: str = "data", discontinuous_ok: bool = False,
                   needs_signals: bool = False) -> None:
    """Refuse paths that are not a readable EDF/BDF file with signals (before pyedflib sees them).

    Parameters
    ----------
    path : pathlib.Path
        File to check.
    arg : str
        Argument name that starts the error message (``"data"`` for :func:`load_recording`,
        ``"psg_path"``/``"hypnogram_path"`` for the dataset builder).
    discontinuous_ok : bool
        Accept EDF+D/BDF+D (staging reads their longest continuous segment); the dataset builder
        needs a continuous file.
    needs_signals : bool
        Refuse a file with annotations only (a hypnogram where a PSG is expected).

    Raises
    ------
    ValueError
        Missing path, directory, unreadable or empty file, non-EDF/BDF content, truncated or
        over-long file, EDF+D/BDF+D (unless ``discontinuous_ok``), annotations only (with
        ``needs_signals``).
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
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER_BYTES)
    except OSError as error:  # permissions, a file on an unmounted drive
        raise ValueError(
            f"{arg}: {shown!r} cannot be opened ({error.strerror or error}), expected a readable EDF "
            f"file. Check its permissions (e.g. chmod u+r) or copy it somewhere readable."
        ) from error
    if len(head) < _HEADER_BYTES or head[:8] not in (_EDF_MAGIC, _BDF_MAGIC):
        raise ValueError(
            f"{arg}: {shown!r} is not an EDF/BDF file (it does not start with an EDF header; first "
            f"bytes {head[:16]!r}). Expected a European Data Format recording: export the night "
            f"as EDF from your acquisition software, or load it with MNE and pass the mne.io.Raw."
        )
    _check_size(path, head, size, arg)
    labels = _signal_labels(path, head) if needs_signals else None
    if labels is not None and not [label for label in labels if label not in _ANNOTATION_LABELS]:
        raise ValueError(
            f"{arg}: {shown!r} holds no signals (only annotations, like a Sleep-EDFx "
            f"*-Hypnogram.edf); pass the PSG recording instead."
        )
    reserved = head[192:236]
    if reserved.startswith((b"EDF+D", b"BDF+D")) and not discontinuous_ok:
        raise ValueError(
            f"{arg}: {shown!r} is a discontinuous EDF+D/BDF+D file (recording interrupted, with "
            f"gaps between its data records); expected a continuous EDF/EDF+C. Staging needs an "
            f"unbroken time axis: convert it to continuous segments (e.g. EDFbrowser: Tools > "
            f"'Convert EDF+D to EDF+C') and stage each segment."
        )


def _signal_labels(path: Path, head: bytes) -> list[str] | None:
    """The signal labels of the header (None when the signal count is unreadable)."""
    n_signals = _header_int(head[252:256])
    if n_signals is None or n_signals < 0:
        return None
    with open(path, "rb") as handle:
        handle.seek(_HEADER_BYTES)
        raw = handle.read(16 * n_signals)
    if len(raw) < 16 * n_signals:
        return None
    return [raw[i * 16:(i + 1) * 16].decode("latin-1").strip() for i in range(n_signals)]


def continuous_segments(path) -> list[tuple[float, float, int, int]]:
    """The continuous stretches of an EDF+/BDF+ file, from the time stamps of its data records.

    Parameters
    ----------
    path : str or pathlib.Path
        An EDF+ or BDF+ file (EDF+D files have gaps between their data records).

    Returns
    -------
    list of (onset_s, duration_s, first_record, end_record)
        In file order: onset in seconds from the first data record, length in seconds, and the
        data records ``first_record`` to ``end_record - 1`` that hold it. One segment for a
        continuous file.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
    n_signals, n_records = _header_int(head[252:256]), _header_int(head[236:244])
    header_bytes = _header_int(head[184:192])
    try:
        record_sec = float(head[244:252].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        record_sec = None
    labels = _signal_labels(path, head)
    if not (n_signals and n_records and header_bytes and record_sec and labels) or n_records < 1:
        raise ValueError(f"data: the header of {str(path)!r} gives no usable record count or duration.")
    with open(path, "rb") as handle:
        handle.seek(_HEADER_BYTES + n_signals * 216)
        fields = handle.read(8 * n_signals)
    samples = [_header_int(fields[i * 8:(i + 1) * 8]) or 0 for i in range(n_signals)]
    width = 3 if head[:8] == _BDF_MAGIC else 2
    annotation = next((i for i, label in enumerate(labels) if label in _ANNOTATION_LABELS), None)
    if annotation is None:  # plain EDF: no time stamps, one stretch
        return [(0.0, n_records * record_sec, 0, n_records)]
    record_bytes = width * sum(samples)
    first = width * sum(samples[:annotation])
    records = np.memmap(path, dtype=np.uint8, mode="r", offset=header_bytes, shape=(n_records, record_bytes))
    stamps = records[:, first:first + width * samples[annotation]]
    onsets = []
    for r in range(n_records):
        m = _RECORD_ONSET.match(bytes(stamps[r, :64]))
        onsets.append(float(m.group(1)) if m else (onsets[-1] + record_sec if onsets else 0.0))
    del records, stamps
    breaks = [r for r in range(1, n_records) if abs(onsets[r] - onsets[r - 1] - record_sec) > 1e-3]
    bounds = [0, *breaks, n_records]
    # onsets from the first record (whose own stamp is the sub-second part of the start time)
    return [(round(onsets[a] - onsets[0], 6), (b - a) * record_sec, a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _read_with_mne(path: Path, head: bytes, channel, why: str, segment=None):
    """Read the EEG channel with MNE (lenient about headers), in uV; ``segment`` = (onset_s, duration_s, r0, r1)."""
    shown = str(path)
    try:
        import mne  # lazy: only for files pyedflib refuses
    except ImportError as error:
        raise ValueError(
            f"data: {shown!r} could not be read as EDF/BDF by pyedflib ({why}), and MNE, which reads such files, "
            f"is not installed: pip install mne (or re-export the file as EDF+)."
        ) from error
    reader = mne.io.read_raw_bdf if head[:8] == _BDF_MAGIC else mne.io.read_raw_edf
    try:
        raw = reader(shown, preload=False, verbose="ERROR")
    except Exception as error:  # MNE raises many types for broken headers
        raise ValueError(
            f"data: {shown!r} could not be read as EDF/BDF (pyedflib: {why}; MNE: {error}). The "
            f"file is truncated or its header is corrupt: copy/download it again or re-export it."
        ) from error
    index = pick_eeg_channel(raw.ch_names, channel=channel)
    rate = float(raw.info["sfreq"])
    start_sample, stop_sample, offset = 0, None, 0.0
    if segment is not None:
        offset, duration, first_record, _ = segment
        record_samples = int(round(raw.n_times / max(int(_header_int(head[236:244]) or 1), 1)))
        start_sample = first_record * record_samples
        stop_sample = start_sample + int(round(duration * rate))
    try:
        x = raw.get_data(picks=[index], start=start_sample, stop=stop_sample)[0] * 1e6  # MNE gives volts
    except Exception as error:
        raise ValueError(f"data: {shown!r} could not be read as EDF/BDF (MNE: {error}); re-export the file.") \
            from error
    start = raw.info["meas_date"]
    if start is not None:
        start = start.replace(tzinfo=None) + timedelta(seconds=offset)  # wall clock, as pyedflib gives it
    return x.astype(np.float64), rate, raw.ch_names[index], start, shown


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

    path = Path(path)
    check_edf_file(path, discontinuous_ok=True, needs_signals=True)
    shown = str(path)
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BYTES)
    if head[192:236].startswith((b"EDF+D", b"BDF+D")):
        return _read_discontinuous(path, head, channel)
    try:
        reader = pyedflib.EdfReader(shown)
    except Exception as error:  # pyedflib raises OSError (and others) for malformed files
        why = str(error).removeprefix(f"{shown}: ")
        x, rate, name, start, source = _read_with_mne(path, head, channel, why)
        logger.warning(
            "%s: pyedflib refuses this header (%s); it was read with MNE's more lenient reader instead. "
            "Check that the channel (%r, %g Hz), start time (%s) and amplitude are right; re-exporting the "
            "file as EDF+ fixes the header.", shown, why, name, rate, start,
        )
        return x, rate, name, start, source
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


def _read_discontinuous(path: Path, head: bytes, channel):
    """The longest continuous segment of an EDF+D/BDF+D file (pyedflib refuses these files)."""
    segments = continuous_segments(path)
    longest = max(segments, key=lambda seg: seg[1])
    x, rate, name, start, source = _read_with_mne(path, head, channel, "EDF+D", segment=longest)
    listed = ", ".join(f"{onset:g}-{onset + length:g} s" for onset, length, _, _ in segments)
    logger.warning(
        "%s is a discontinuous EDF+D file with %d continuous segment(s) (%s from the start); staging the "
        "longest, %g-%g s (%d whole 30-s epochs). To stage the others, export each segment as EDF+C "
        "(EDFbrowser: Tools > Convert EDF+D to EDF+C).", source, len(segments), listed,
        longest[0], longest[0] + longest[1], int(longest[1] // 30),
    )
    return x, rate, name, start, source
