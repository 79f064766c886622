"""Real-world EDF files: a real recording no one here wrote (tests/data/README: source and licence), and the ways
clinical exports differ from the standard, written as byte edits of it: headers pyedflib refuses as not compliant
(read with MNE, with a warning naming the problem), padded labels such as 'Cz..', and EDF+D with gaps (the longest
continuous segment is staged, with a warning)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from eeg_vlm.io import load_recording
from eeg_vlm.io.edf import continuous_segments

REAL = Path(__file__).parent / "data" / "pyedflib_test_subsecond.edf"  # 698 s of 'Fp1' at 128 Hz, EDF+C
REAL_START = datetime(2020, 1, 24, 4, 5, 56, 39453)


def _field(raw: bytearray, offset: int, width: int, text: str) -> None:
    raw[offset:offset + width] = text.ljust(width).encode("latin-1")[:width]


def edited(tmp_path: Path, name: str, edit) -> Path:
    raw = bytearray(REAL.read_bytes())
    edit(raw)
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


def with_gap(raw: bytearray, *, after_record: int, gap_s: float) -> None:
    """Make an EDF+C an EDF+D: every data record from ``after_record`` on is time-stamped ``gap_s`` later."""
    n_signals, n_records = int(raw[252:256]), int(raw[236:244])
    header_bytes = int(raw[184:192])
    labels = [raw[256 + 16 * i:272 + 16 * i].decode().strip() for i in range(n_signals)]
    samples = [int(raw[256 + 216 * n_signals + 8 * i:264 + 216 * n_signals + 8 * i]) for i in range(n_signals)]
    ann = labels.index("EDF Annotations")
    record, first, width = 2 * sum(samples), 2 * sum(samples[:ann]), 2 * samples[ann]
    _field(raw, 192, 44, "EDF+D")
    for r in range(after_record, n_records):
        start = header_bytes + r * record + first
        tal = bytes(raw[start:start + width])
        stamp = re.match(rb"([+-][\d.]+)\x14\x14\x00", tal)
        shifted = f"+{float(stamp.group(1)) + gap_s:.6f}".rstrip("0").rstrip(".").encode() + b"\x14\x14\x00"
        raw[start:start + width] = (shifted + tal[stamp.end():]).ljust(width, b"\x00")[:width]


def test_the_real_recording_is_read_as_is():
    rec = load_recording(REAL)
    assert rec.channel_name == "Fp1" and rec.original_sampling_rate == 128.0
    assert rec.n_epochs == 698 // 30 and rec.start_datetime == REAL_START
    reader = pyedflib.EdfReader(str(REAL))
    try:
        first = reader.readSignal(0)[: 128 * 30]
    finally:
        reader.close()
    assert 5 < np.std(first) < 100  # uV: real scalp EEG


@pytest.mark.parametrize(("name", "edit", "reason"), [
    ("date_with_slashes.edf", lambda raw: _field(raw, 168, 8, "24/01/20"), "startdate"),
    ("time_with_colons.edf", lambda raw: _field(raw, 176, 8, "04:05:56"), "starttime"),
    ("micro_sign.edf", lambda raw: _field(raw, 256 + 1 * 16 + 2 * 80, 8, "µV"), "compliant"),
    ("record_count_unknown.edf", lambda raw: _field(raw, 236, 8, "-1"), "Number of Datarecords"),
])
def test_header_pyedflib_refuses_is_read_with_mne_and_a_warning_naming_the_problem(tmp_path, caplog, name, edit,
                                                                                 reason):
    path = edited(tmp_path, name, edit)
    with pytest.raises(OSError, match="not EDF"):
        pyedflib.EdfReader(str(path))  # the strict reader refuses it
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.io.edf"):
        rec = load_recording(path)
    assert f"pyedflib refuses this header (" in caplog.text and reason in caplog.text
    assert "read with MNE's more lenient reader" in caplog.text
    reference = load_recording(REAL)
    assert rec.channel_name == "Fp1" and rec.n_epochs == reference.n_epochs
    np.testing.assert_allclose(rec.data, reference.data, atol=0.01)  # same uV, whatever the header's quirks


def test_header_neither_reader_can_parse_is_refused_with_both_reasons(tmp_path):
    path = edited(tmp_path, "broken.edf", lambda raw: _field(raw, 244, 8, "one sec."))
    with pytest.raises(ValueError, match=r"data: .*broken\.edf' could not be read as EDF/BDF \(pyedflib: .*; MNE: "):
        load_recording(path)


@pytest.mark.parametrize("label", ["Fpz.", "Cz..", "C3..", "Fp1 "])
def test_padded_labels_are_recognised_as_eeg(tmp_path, label):
    path = edited(tmp_path, "padded.edf", lambda raw: _field(raw, 256, 16, label))
    rec = load_recording(path)
    assert rec.channel_name == label.strip() or rec.channel_name == label
    assert load_recording(path, channel=label.strip(". ")).channel_name == rec.channel_name


def test_edf_plus_d_stages_the_longest_segment_with_a_warning(tmp_path, caplog):
    path = edited(tmp_path, "gaps.edf", lambda raw: with_gap(raw, after_record=200, gap_s=600.0))
    assert [(onset, length) for onset, length, *_ in continuous_segments(path)] == [(0.0, 200.0), (800.0, 498.0)]
    with caplog.at_level(logging.WARNING, logger="eeg_vlm.io.edf"):
        rec = load_recording(path)
    assert "discontinuous EDF+D file with 2 continuous segment(s) (0-200 s, 800-1298 s" in caplog.text
    assert "staging the longest, 800-1298 s (16 whole 30-s epochs)" in caplog.text
    assert rec.n_epochs == 16
    assert abs(rec.start_datetime - (REAL_START + timedelta(seconds=800))) < timedelta(seconds=1)  # MNE: whole s
    reference = pyedflib.EdfReader(str(REAL))
    try:
        tail = reference.readSignal(0)[200 * 128:]  # the samples of the second segment
    finally:
        reference.close()
    np.testing.assert_allclose(rec.data, load_recording(tail, sampling_rate=128).data[: rec.data.size], atol=0.05)


def test_continuous_file_is_one_segment():
    assert [(onset, length) for onset, length, *_ in continuous_segments(REAL)] == [(0.0, 698.0)]


def test_real_recording_and_its_variants_stage_from_the_command_line(tmp_path, tiny_model_dir, capsys):
    from eeg_vlm.cli import main

    files = [REAL, edited(tmp_path, "clinical.edf", lambda raw: _field(raw, 168, 8, "24/01/20")),
             edited(tmp_path, "gaps.edf", lambda raw: with_gap(raw, after_record=200, gap_s=600.0)),
             edited(tmp_path, "physionet.edf", lambda raw: _field(raw, 256, 16, "Cz.."))]
    code = main(["stage", *map(str, files), "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir), "-q"])
    out = capsys.readouterr()
    assert code == 0, out.err
    for f in files:
        assert (tmp_path / "out" / f"{f.stem}.hypnogram.csv").exists()
    assert "pyedflib_test_subsecond.edf: 23 epochs on 'Fp1'" in out.out
    assert "gaps.edf: 16 epochs" in out.out and "physionet.edf: 23 epochs on 'Cz..'" in out.out
