"""Tests for eeg_vlm.dataset_builder.sleep_edfx on real EDF+ files written with pyedflib."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from eeg_vlm.dataset_builder.sleep_edfx import (
    hypnogram_to_epochs,
    pair_files,
    read_hypnogram,
    read_night,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
START = dt.datetime(1989, 4, 24, 16, 13, 0)
PSG_SECONDS = 9000  # 2.5 h: long enough for the 30-min wake margins on both sides, fast to write

# (onset s, duration s, R&K label); the expected epochs are worked out in the tests below
ANNOTATIONS = [
    (0, 3600, "Sleep stage W"),       # 120 W; 60 kept (the 30 min before the first sleep epoch)
    (3600, 60, "Sleep stage 1"),      # 2 N1
    (3660, 120, "Sleep stage 2"),     # 4 N2
    (3780, 60, "Sleep stage 3"),      # 2 N3
    (3840, 60, "Sleep stage 4"),      # 2 N3
    (3900, 30, "Movement time"),      # 1 excluded
    (3930, 90, "Sleep stage R"),      # 3 REM
    (4020, 30, "Sleep stage ?"),      # 1 excluded
    (4050, 30, "Sleep stage 2"),      # 1 N2 (last sleep epoch, ends at 4080 s)
    (4080, 4200, "Sleep stage W"),    # 140 W; 60 kept (until 30 min after the last sleep epoch)
    (8280, 3000, "Sleep stage ?"),    # 100 epochs, 24 inside the 9000-s signal, 76 run past it
]


def _eeg_code(t_s: np.ndarray) -> np.ndarray:
    """Test signal in uV that is constant within each 30-s block and tells which block it is."""
    return 10.0 * ((t_s // 30) % 40) - 200.0


def write_psg(path: Path, *, start=START, seconds=PSG_SECONDS) -> None:
    """A Sleep-EDFx-like PSG: 4 labels, EEG/EOG at 100 Hz, EMG at 1 Hz (as in the cassette files)."""
    t100 = np.arange(seconds * 100) / 100.0
    t1 = np.arange(seconds) / 1.0
    headers, data = [], []
    for label, fs, dim, values in (
        ("EEG Fpz-Cz", 100, "uV", _eeg_code(t100)),
        ("EEG Pz-Oz", 100, "mV", 0.05 * np.sin(2 * np.pi * 1.0 * t100)),  # 50 uV written in mV
        ("EOG horizontal", 100, "uV", 20.0 * np.sin(2 * np.pi * 0.5 * t100)),
        ("EMG submental", 1, "uV", 5.0 + (t1 // 30) % 7),
    ):
        pmax = 0.1 if dim == "mV" else 300.0
        headers.append({"label": label, "dimension": dim, "sample_frequency": fs, "physical_min": -pmax,
                        "physical_max": pmax, "digital_min": -32768, "digital_max": 32767,
                        "transducer": "", "prefilter": ""})
        data.append(values)
    writer = pyedflib.EdfWriter(str(path), len(headers), file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders(headers)
    writer.setStartdatetime(start)
    writer.writeSamples(data)
    writer.close()


def write_hypnogram(path: Path, annotations=ANNOTATIONS, *, start=START) -> None:
    """An annotation-only EDF+ hypnogram like Sleep-EDFx's ``*-Hypnogram.edf``."""
    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setStartdatetime(start)
    for onset, duration, label in annotations:
        writer.writeAnnotation(onset, duration, label)
    writer.close()


@pytest.fixture(scope="module")
def night_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sleep-edfx")
    write_psg(folder / "SC4001E0-PSG.edf")
    write_hypnogram(folder / "SC4001EC-Hypnogram.edf")
    return folder


def test_pair_files_pairs_by_first_six_characters_and_warns_unpaired(tmp_path, caplog):
    for name in ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf", "SC4011E0-PSG.edf", "SC4011EH-Hypnogram.edf",
                 "ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf", "SC4002E0-PSG.edf", "SC4122EV-Hypnogram.edf",
                 "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        nights = pair_files(tmp_path)
    assert [(n.name, n.subject, n.night, n.psg.name, n.hypnogram.name) for n in nights] == [
        ("SC4001", 0, 1, "SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"),
        ("SC4011", 1, 1, "SC4011E0-PSG.edf", "SC4011EH-Hypnogram.edf"),
        ("ST7011", 1, 1, "ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf"),
    ]
    assert "SC4002E0-PSG.edf has no matching" in caplog.text
    assert "SC4122EV-Hypnogram.edf has no matching" in caplog.text


def test_genuine_sc4001_hypnogram_gives_841_epochs():
    path = SHARED / "sleep-edfx" / "SC4001EC-Hypnogram.edf"
    if not path.is_file():
        pytest.skip(f"../shared/data missing: {path} is needed for the genuine SC4001 epoch counts")
    table = hypnogram_to_epochs(read_hypnogram(path))
    assert len(table) == 841
    assert table.counts() == {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}
    assert np.all(np.diff(table.onset_s) == 30.0)  # one contiguous block of 30-s epochs
    assert table.onset_s[0] == 30630.0 - 1800.0


def test_genuine_sc4001_hypnogram_with_a_psg_of_its_length_reads_841_epochs(tmp_path, caplog):
    path = SHARED / "sleep-edfx" / "SC4001EC-Hypnogram.edf"
    if not path.is_file():
        pytest.skip(f"../shared/data missing: {path} is needed for the genuine SC4001 epoch counts")
    # the genuine PSG lasts 79500 s; its hypnogram's final 'Sleep stage ?' runs 6900 s past that
    write_psg(tmp_path / "SC4001E0-PSG.edf", seconds=79500)
    with caplog.at_level(logging.WARNING):
        night = read_night(tmp_path / "SC4001E0-PSG.edf", path)
    assert len(night) == 841 and night.signals["EEG Fpz-Cz"].shape == (841, 3000)
    assert {s: night.stages.count(s) for s in ("W", "N1", "N2", "N3", "REM")} == \
        {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}
    assert "'Sleep stage ?' (79500.0 s to 86400.0 s) runs outside the signal" in caplog.text
    np.testing.assert_allclose(night.signals["EEG Fpz-Cz"][:, 0], _eeg_code(night.epoch_onsets), atol=0.05)


def test_rk_stages_map_to_aasm_and_exclusions_are_counted():
    table = hypnogram_to_epochs(ANNOTATIONS, wake_margin_min=None)
    assert table.counts() == {"W": 260, "N1": 2, "N2": 5, "N3": 4, "REM": 3}
    assert table.excluded == {"Movement time": 1, "Sleep stage ?": 101}
    onsets = dict(zip(table.onset_s.tolist(), table.stage))
    assert onsets[3780.0] == "N3" and onsets[3840.0] == "N3" and onsets[3930.0] == "REM"
    assert 3900.0 not in onsets and 4020.0 not in onsets


def test_epochs_are_aligned_to_annotation_onsets():
    table = hypnogram_to_epochs([(15, 60, "Sleep stage 2"), (75, 30, "Sleep stage R")], wake_margin_min=None)
    assert table.onset_s.tolist() == [15.0, 45.0, 75.0]
    assert table.stage == ["N2", "N2", "REM"]


def test_wake_is_trimmed_to_30_min_around_sleep():
    table = hypnogram_to_epochs(ANNOTATIONS)
    wake = table.onset_s[np.array(table.stage) == "W"]
    assert wake.min() == 3600 - 1800
    assert wake.max() == 4080 + 1800 - 30
    assert len(wake) == 120
    assert table.wake_trimmed == 140
    assert len(table) == 134


def test_unknown_label_is_excluded_counted_and_warned(caplog):
    with caplog.at_level(logging.WARNING):
        table = hypnogram_to_epochs([(0, 60, "Sleep stage 2"), (60, 90, "Lights on")])
    assert table.excluded == {"Lights on": 3}
    assert table.stage == ["N2", "N2"]
    assert "Unknown hypnogram label 'Lights on'" in caplog.text


def test_annotation_past_signal_is_cut_with_warning(night_dir, caplog):
    with caplog.at_level(logging.WARNING):
        night = read_night(night_dir / "SC4001E0-PSG.edf", night_dir / "SC4001EC-Hypnogram.edf")
    assert "runs outside the signal" in caplog.text and "76 epoch(s) cut" in caplog.text
    assert night.excluded == {"Movement time": 1, "Sleep stage ?": 25}
    assert night.epoch_onsets.max() + 30 <= PSG_SECONDS


def test_read_night_cuts_scored_epochs_in_uv(night_dir):
    channels = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
    night = read_night(night_dir / "SC4001E0-PSG.edf", night_dir / "SC4001EC-Hypnogram.edf", channels=channels)
    assert (night.subject, night.night, night.name, night.start_datetime) == (0, 1, "SC4001", START)
    assert len(night) == 134 and night.stages.count("W") == 120
    assert night.sampling_rates == {"EEG Fpz-Cz": 100.0, "EEG Pz-Oz": 100.0, "EOG horizontal": 100.0,
                                    "EMG submental": 1.0}
    eeg = night.signals["EEG Fpz-Cz"]
    assert eeg.dtype == np.float32 and eeg.shape == (134, 3000)
    assert night.signals["EMG submental"].shape == (134, 30)
    # every row holds the block that the hypnogram onset names (constant code per 30-s block)
    np.testing.assert_allclose(eeg.mean(axis=1), _eeg_code(night.epoch_onsets), atol=0.05)
    np.testing.assert_allclose(eeg.std(axis=1), 0.0, atol=0.05)
    np.testing.assert_allclose(night.signals["EMG submental"][:, 0], 5.0 + (night.epoch_onsets // 30) % 7,
                               atol=0.05)
    # the mV channel comes back in uV: a 0.05 mV sine peaks at 50 uV
    assert 49.0 < np.abs(night.signals["EEG Pz-Oz"]).max() < 51.0


def test_epoch_with_context_uses_real_neighbours_and_zero_pads_edges(tmp_path):
    write_psg(tmp_path / "SC4002E0-PSG.edf", seconds=600)
    write_hypnogram(tmp_path / "SC4002EC-Hypnogram.edf", [(0, 120, "Sleep stage 2"), (120, 480, "Sleep stage 3")])
    night = read_night(tmp_path / "SC4002E0-PSG.edf", tmp_path / "SC4002EC-Hypnogram.edf")
    first = night.epoch_with_context("EEG Fpz-Cz", 0, context=1)
    assert first.shape == (9000,)
    assert np.all(first[:3000] == 0.0)  # before the recording: zeros
    np.testing.assert_array_equal(first[3000:6000], night.signals["EEG Fpz-Cz"][0])
    np.testing.assert_array_equal(first[6000:], night.signals["EEG Fpz-Cz"][1])
    last = night.epoch_with_context("EEG Fpz-Cz", len(night) - 1, context=2)
    assert last.shape == (15000,) and np.all(last[9000:] == 0.0)
    np.testing.assert_array_equal(last[:3000], night.signals["EEG Fpz-Cz"][-3])


def test_unknown_channel_lists_available(night_dir):
    with pytest.raises(ValueError, match=r"channels: \['EEG C3'\].*available channels: \['EEG Fpz-Cz'"):
        read_night(night_dir / "SC4001E0-PSG.edf", night_dir / "SC4001EC-Hypnogram.edf", channels=("EEG C3",))


def test_start_time_mismatch_is_aligned_by_datetime_difference(tmp_path, caplog):
    write_psg(tmp_path / "SC4003E0-PSG.edf", seconds=600)
    later = START + dt.timedelta(seconds=60)
    write_hypnogram(tmp_path / "SC4003EC-Hypnogram.edf", [(0, 300, "Sleep stage 2")], start=later)
    with caplog.at_level(logging.WARNING):
        night = read_night(tmp_path / "SC4003E0-PSG.edf", tmp_path / "SC4003EC-Hypnogram.edf")
    assert "aligning the hypnogram by +60.0 s" in caplog.text
    assert night.epoch_onsets.tolist() == [60.0 + 30.0 * k for k in range(10)]
    np.testing.assert_allclose(night.signals["EEG Fpz-Cz"].mean(axis=1), _eeg_code(night.epoch_onsets), atol=0.05)
