"""Tests of eeg_vlm.io reading: channel choice, units, resampling, EDF/MNE/array loading, gaps.

Run: cd /work/main && python -m pytest tests/test_io_read.py -q
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eeg_vlm.io import (
    EEG_PREFERENCE,
    FLAT_STD_UV,
    check_amplitude,
    epochs,
    load_recording,
    normalise_channel_name,
    pick_eeg_channel,
    resample_to,
    unit_to_uv_factor,
)

START = datetime(2021, 3, 4, 22, 15, 30)
RNG_SEED = 1234


def eeg_like(n_samples: int, rate: float, *, seed: int = RNG_SEED) -> np.ndarray:
    """A deterministic EEG-like signal in uV: 2 Hz (40 uV) + 10 Hz (20 uV) + white noise (5 uV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / rate
    noise = 5 * rng.standard_normal(n_samples)
    return 40 * np.sin(2 * np.pi * 2 * t) + 20 * np.sin(2 * np.pi * 10 * t) + noise


def write_edf(path: Path, signals, *, file_type=pyedflib.FILETYPE_EDFPLUS, start=START) -> Path:
    """Write ``signals`` = [(label, rate_hz, values, dimension), ...] with pyedflib (1-s records)."""
    bdf = file_type in (pyedflib.FILETYPE_BDF, pyedflib.FILETYPE_BDFPLUS)
    digital = 8388607 if bdf else 32767
    headers = []
    for label, rate, values, dimension, *phys in signals:
        # The header stores physical min/max in 8 characters: keep them short ("200", "0.0002").
        peak = phys[0] if phys else float(np.ceil(np.max(np.abs(values)) * 1.05)) or 1.0
        headers.append(dict(label=label, dimension=dimension, sample_frequency=rate,
                            physical_min=-peak, physical_max=peak,
                            digital_min=-digital - 1, digital_max=digital))
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=file_type)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(start)
        writer.writeSamples([np.asarray(signal[2], dtype=np.float64) for signal in signals])
    finally:
        writer.close()
    return path


def sleep_edfx_like(path: Path, *, seconds: int = 90, eeg_rate: int = 100) -> Path:
    """A night laid out like Sleep-EDFx PSG files (two EEG, EOG, EMG, 1-Hz respiration)."""
    return write_edf(path, [
        ("EEG Fpz-Cz", eeg_rate, eeg_like(seconds * eeg_rate, eeg_rate), "uV"),
        ("EEG Pz-Oz", eeg_rate, eeg_like(seconds * eeg_rate, eeg_rate, seed=2), "uV"),
        ("EOG horizontal", eeg_rate, eeg_like(seconds * eeg_rate, eeg_rate, seed=3), "uV"),
        ("Resp oro-nasal", 1, np.sin(np.arange(seconds) / 3.0) * 100, "uV"),
        ("EMG submental", 1, np.abs(np.sin(np.arange(seconds))) * 10 + 1, "uV"),
    ])


# --------------------------------------------------------------------------- channel choice
def test_preference_list_puts_fpz_cz_first():
    assert EEG_PREFERENCE[0] == "FPZ-CZ"
    assert pick_eeg_channel(["EOG horizontal", "EEG Pz-Oz", "C4-M1", "EEG Fpz-Cz"]) == 3


def test_preference_order_central_before_single_electrode_before_posterior():
    assert pick_eeg_channel(["Pz-Oz", "Cz", "C3-M2", "C4-M1"]) == 3
    assert pick_eeg_channel(["Pz-Oz", "Cz", "C3-M2"]) == 2
    assert pick_eeg_channel(["Pz-Oz", "Cz"]) == 1
    assert pick_eeg_channel(["EOG", "Pz-Oz"]) == 1


@pytest.mark.parametrize("label", ["EEG C4-M1", "c4-m1", "C4:M1", " eeg  C4 - M1 ", "EEG_C4:M1"])
def test_name_matching_ignores_case_spaces_prefix_and_colon(label):
    assert normalise_channel_name(label) == "C4-M1"
    assert pick_eeg_channel(["EOG", label], channel="C4-M1") == 1


def test_ref_suffix_is_dropped():
    assert normalise_channel_name("EEG CZ-REF") == "CZ"
    assert normalise_channel_name("Fz-Ref") == "FZ"
    assert pick_eeg_channel(["EKG", "EEG CZ-REF"], channel="Cz") == 1


def test_earlobe_reference_counts_as_mastoid_only_for_the_preference_list():
    assert pick_eeg_channel(["EOG", "Pz-Oz", "C4-A1"]) == 2  # C4-A1 fills the C4-M1 slot
    with pytest.raises(ValueError, match=r"Did you mean 'C4-A1'"):
        pick_eeg_channel(["EOG", "C4-A1"], channel="C4-M1")  # explicit names are exact


def test_absent_channel_error_lists_available_channels_and_how_to_pick():
    with pytest.raises(ValueError) as info:
        pick_eeg_channel(["EEG Fpz-Cz", "EOG horizontal"], channel="C3-M2")
    message = str(info.value)
    assert message.startswith("channel:")
    assert "'EEG Fpz-Cz'" in message and "'EOG horizontal'" in message
    assert "--channel" in message


@pytest.mark.parametrize("names", [
    [],
    ["EOG horizontal", "EMG submental"],
    ["E1-M2", "E2-M1", "Chin1-Chin2", "ECG II", "SpO2", "Resp oro-nasal", "Thor", "Abdo"],
])
def test_no_eeg_channel_raises_value_error(names):
    with pytest.raises(ValueError, match=r"channel_names: no EEG channel found.*channel="):
        pick_eeg_channel(names)


def test_any_eeg_looking_channel_is_the_fallback_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert pick_eeg_channel(["EOG left", "Light", "T3-T5"]) == 2
    assert "T3-T5" in caplog.text


def test_channel_index_is_accepted_and_range_checked():
    assert pick_eeg_channel(["a", "b"], channel=1) == 1
    with pytest.raises(ValueError, match=r"channel: index 2 is out of range"):
        pick_eeg_channel(["a", "b"], channel=2)


# --------------------------------------------------------------------------- units
@pytest.mark.parametrize("dimension,factor", [
    ("uV", 1.0), ("UV", 1.0), ("µV", 1.0), ("\u03bcV", 1.0), ("mV", 1e3), ("MV", 1e3),
    ("V", 1e6), ("v", 1e6), ("nV", 1e-3), (" uV ", 1.0),
])
def test_unit_factor_to_microvolts(dimension, factor):
    assert unit_to_uv_factor(dimension) == factor


def test_unknown_unit_warns_and_assumes_microvolts(caplog):
    with caplog.at_level(logging.WARNING):
        assert unit_to_uv_factor("mmHg", name="X") == 1.0
    assert "mmHg" in caplog.text and "assuming microvolts" in caplog.text


def test_signal_in_volts_is_detected_converted_and_warned(caplog):
    volts = eeg_like(3000, 100.0) * 1e-6
    original = volts.copy()
    with caplog.at_level(logging.WARNING):
        out = check_amplitude(volts, name="EEG Fpz-Cz")
    np.testing.assert_allclose(out, original * 1e6)
    np.testing.assert_array_equal(volts, original)  # input untouched
    assert "looks like volts" in caplog.text


def test_signal_in_microvolts_and_flat_signal_are_left_unchanged(caplog):
    uv = eeg_like(3000, 100.0)
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(check_amplitude(uv, name="a"), uv)
        np.testing.assert_array_equal(check_amplitude(np.zeros(100), name="b"), np.zeros(100))
    assert caplog.text == ""


# --------------------------------------------------------------------------- resampling
@pytest.mark.parametrize("rate", [50, 128, 200, 250, 256, 500, 512, 99.9])
def test_resample_any_rate_from_50_hz_keeps_length_and_waveform(rate):
    n = int(61.3 * rate)
    t = np.arange(n) / rate
    x = 30 * np.sin(2 * np.pi * 7 * t)
    y = resample_to(x, rate, 100.0)
    assert y.shape == (round(n * 100.0 / rate),)
    expected = 30 * np.sin(2 * np.pi * 7 * np.arange(y.size) / 100.0)
    core = slice(100, y.size - 100)  # away from the filter's edges
    assert np.max(np.abs(y[core] - expected[core])) < 0.5  # uV, on a 30-uV sine


def test_resample_below_50_hz_refused_with_fix():
    with pytest.raises(ValueError, match=r"from_rate: 40 Hz is below the minimum of 50 Hz.*100 Hz"):
        resample_to(np.zeros(4000), 40, 100.0)


def test_resample_same_rate_returns_a_copy():
    x = np.arange(10.0)
    y = resample_to(x, 100, 100)
    y[0] = 99
    assert x[0] == 0


# --------------------------------------------------------------------------- EDF files
@pytest.mark.parametrize("rate", [50, 128, 200, 250, 256, 500, 512])
def test_edf_at_common_rates_resampled_to_100_hz_in_whole_epochs(tmp_path, rate, caplog):
    x = eeg_like(95 * rate, rate)
    path = write_edf(tmp_path / f"r{rate}.edf", [("EEG Fpz-Cz", rate, x, "uV")])
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path)
    assert (rec.sampling_rate, rec.original_sampling_rate) == (100.0, float(rate))
    assert rec.n_epochs == 3 and rec.data.shape == (9000,) and rec.data.dtype == np.float32
    assert abs(np.std(rec.data) - np.std(x[: 90 * rate])) < 0.05 * np.std(x)  # amplitude kept
    assert "dropped" in caplog.text  # 5-s tail


def test_edf_with_mixed_rates_reads_the_chosen_channel(tmp_path):
    path = sleep_edfx_like(tmp_path / "psg.edf", eeg_rate=200)
    rec = load_recording(path)
    assert rec.channel_name == "EEG Fpz-Cz" and rec.original_sampling_rate == 200.0
    expected = resample_to(eeg_like(90 * 200, 200), 200, 100)
    np.testing.assert_allclose(rec.data, expected, atol=0.05)  # uV, EDF 16-bit quantisation
    rec2 = load_recording(path, channel="Pz-Oz")
    assert rec2.channel_name == "EEG Pz-Oz" and rec2.n_epochs == 3


@pytest.mark.parametrize("dimension,scale", [("uV", 1.0), ("mV", 1e-3), ("V", 1e-6)])
def test_edf_physical_dimension_converted_to_microvolts(tmp_path, dimension, scale):
    x = eeg_like(60 * 100, 100.0)
    peak = float(np.round(200 * scale, 6))  # 200 uV in the file's unit: "200", "0.2", "0.0002"
    path = write_edf(tmp_path / f"{dimension}.edf", [("EEG Cz", 100, x * scale, dimension, peak)])
    rec = load_recording(path)
    np.testing.assert_allclose(rec.data, x, atol=0.05)


def test_edfplus_labels_eeg_c3_a2_and_c4_colon_m1(tmp_path):
    path = write_edf(tmp_path / "clinic.edf", [
        ("EEG C3-A2", 256, eeg_like(60 * 256, 256.0, seed=5), "uV"),
        ("C4:M1", 256, eeg_like(60 * 256, 256.0, seed=6), "uV"),
        ("EOG E1-M2", 256, eeg_like(60 * 256, 256.0, seed=7), "uV"),
    ])
    assert load_recording(path).channel_name == "C4:M1"  # C4-M1 precedes C3-M2 (~ C3-A2)
    assert load_recording(path, channel="c3-a2").channel_name == "EEG C3-A2"
    with pytest.raises(ValueError, match=r"'EEG C3-A2', 'C4:M1', 'EOG E1-M2'"):
        load_recording(path, channel="Fpz-Cz")


def test_edf_start_datetime_and_source_are_kept(tmp_path):
    path = sleep_edfx_like(tmp_path / "psg.edf")
    rec = load_recording(path)
    assert rec.start_datetime == START and rec.source == str(path)
    assert rec.duration == 90.0


def test_bdf_is_read(tmp_path):
    x = eeg_like(60 * 256, 256.0)
    path = write_edf(tmp_path / "night.bdf", [("Fpz-Cz", 256, x, "uV")], file_type=pyedflib.FILETYPE_BDFPLUS)
    rec = load_recording(path)
    np.testing.assert_allclose(rec.data, resample_to(x, 256, 100), atol=0.01)


def test_edf_plus_d_refused_where_a_continuous_file_is_needed(tmp_path):
    """The dataset builder needs EDF+C (staging reads EDF+D's longest segment: tests/test_real_world_edf.py)."""
    from eeg_vlm.io.edf import check_edf_file

    path = sleep_edfx_like(tmp_path / "d.edf")
    raw = bytearray(path.read_bytes())
    assert raw[192:197] == b"EDF+C"
    raw[192:197] = b"EDF+D"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"psg_path: .* discontinuous EDF\+D.*Convert EDF\+D to EDF\+C"):
        check_edf_file(path, arg="psg_path")
    check_edf_file(path, discontinuous_ok=True)
    assert load_recording(path).n_epochs == 3  # no gap in its time stamps: one segment


def test_missing_path_refused(tmp_path):
    with pytest.raises(ValueError, match=r"data: no file at .*nope\.edf.*pass an existing"):
        load_recording(tmp_path / "nope.edf")


def test_directory_refused(tmp_path):
    sleep_edfx_like(tmp_path / "a.edf")
    with pytest.raises(ValueError, match=r"data: .* is a directory.*a\.edf"):
        load_recording(tmp_path)


def test_empty_file_refused(tmp_path):
    (tmp_path / "empty.edf").write_bytes(b"")
    with pytest.raises(ValueError, match=r"data: .* is empty \(0 bytes\).*again"):
        load_recording(tmp_path / "empty.edf")


def test_non_edf_content_with_edf_extension_refused(tmp_path):
    (tmp_path / "notes.edf").write_text("patient slept well\n" * 40)
    with pytest.raises(ValueError, match=r"data: .* is not an EDF/BDF file.*export the night"):
        load_recording(tmp_path / "notes.edf")


def test_truncated_edf_refused(tmp_path):
    path = sleep_edfx_like(tmp_path / "t.edf")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ValueError, match=r"data: .* is truncated: \d+ bytes, but its header announces"):
        load_recording(path)


def test_edf_with_extra_bytes_refused(tmp_path):
    path = sleep_edfx_like(tmp_path / "x.edf")
    path.write_bytes(path.read_bytes() + b"\0" * 10)
    with pytest.raises(ValueError, match=r"has 10 bytes more than its header announces"):
        load_recording(path)


def test_corrupt_header_refused(tmp_path):
    path = sleep_edfx_like(tmp_path / "c.edf")
    raw = bytearray(path.read_bytes())
    raw[236:244] = b"abcdefgh"  # number of data records
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"could not be read as EDF/BDF"):
        load_recording(path)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 20000), edits=st.lists(
    st.tuples(st.integers(0, 1535), st.integers(0, 255)), max_size=6))
def test_malformed_edf_raises_only_value_error(tmp_path, cut, edits):
    """Random header bytes and truncations: the file loads or a ValueError explains why."""
    base = tmp_path / "base.edf"
    if not base.exists():
        sleep_edfx_like(base)
    raw = bytearray(base.read_bytes())
    for position, value in edits:  # the header of this 5-signal file is 1536 bytes
        raw[position] = value
    if cut:
        raw = raw[: len(raw) - cut]
    path = tmp_path / "fuzz.edf"
    path.write_bytes(bytes(raw))
    try:
        load_recording(path)
    except ValueError as error:
        assert str(error).split(":")[0] in {"data", "channel", "channel_names"}


def test_annotation_only_edf_refused(tmp_path):
    path = tmp_path / "h.edf"
    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.writeAnnotation(0, 30, "Sleep stage W")
    writer.close()
    with pytest.raises(ValueError, match=r"holds no signals.*PSG"):
        load_recording(path)


def test_edf_file_arguments_that_belong_to_arrays_refused(tmp_path):
    path = sleep_edfx_like(tmp_path / "psg.edf")
    with pytest.raises(ValueError, match=r"^channel_names:"):
        load_recording(path, channel_names=["a"])
    with pytest.raises(ValueError, match=r"^sampling_rate: .* 100 Hz but sampling_rate=256"):
        load_recording(path, sampling_rate=256)


def test_edf_channel_below_50_hz_refused(tmp_path):
    path = write_edf(tmp_path / "low.edf", [("EEG Cz", 32, eeg_like(60 * 32, 32.0), "uV")])
    with pytest.raises(ValueError, match=r"data: channel 'EEG Cz' .* 32 Hz, below the minimum of 50 Hz"):
        load_recording(path)


# --------------------------------------------------------------------------- MNE Raw
def test_mne_raw_in_volts_converted_to_microvolts():
    mne = pytest.importorskip("mne")
    x = eeg_like(60 * 250, 250.0)
    info = mne.create_info(["EOG1", "Cz-A1"], 250.0, ["eog", "eeg"])
    raw = mne.io.RawArray(np.vstack([x, x]) * 1e-6, info, verbose="error")
    raw.set_meas_date(datetime(2022, 5, 6, 23, 0, 0, tzinfo=timezone.utc))
    rec = load_recording(raw)
    assert rec.channel_name == "Cz-A1" and rec.original_sampling_rate == 250.0
    np.testing.assert_allclose(rec.data, resample_to(x, 250, 100), atol=1e-3)
    assert rec.start_datetime == datetime(2022, 5, 6, 23, 0, 0)  # wall clock, naive like pyedflib
    assert rec.source == "mne.io.Raw"


# --------------------------------------------------------------------------- arrays
def test_one_row_array_needs_no_name():
    rec = load_recording(eeg_like(3000, 100.0), sampling_rate=100)
    assert rec.channel_name == "EEG" and rec.n_epochs == 1 and rec.source == "array"


def test_array_requires_sampling_rate():
    with pytest.raises(ValueError, match=r"sampling_rate: required when data is an array"):
        load_recording(eeg_like(3000, 100.0))


def test_array_rows_named_by_channel_names():
    rows = np.vstack([eeg_like(6000, 200.0, seed=1) * 3, eeg_like(6000, 200.0, seed=2)])
    rec = load_recording(rows, sampling_rate=200, channel_names=["EOG L", "EEG Fz-Cz"])
    assert rec.channel_name == "EEG Fz-Cz"
    np.testing.assert_allclose(rec.data, resample_to(rows[1], 200, 100), atol=1e-3)


def test_multirow_array_without_names_refused():
    with pytest.raises(ValueError, match=r"channel_names: the array has 2 rows but no channel_names"):
        load_recording(np.zeros((2, 6000)), sampling_rate=100)


def test_channel_names_length_mismatch_refused():
    with pytest.raises(ValueError, match=r"channel_names: expected a list of 2 names"):
        load_recording(np.zeros((2, 6000)), sampling_rate=100, channel_names=["Cz"])


def test_transposed_array_refused_with_fix():
    with pytest.raises(ValueError, match=r"pass data\.T"):
        load_recording(np.zeros((6000, 2)), sampling_rate=100)


def test_array_below_50_hz_refused():
    with pytest.raises(ValueError, match=r"40 Hz, below the minimum of 50 Hz"):
        load_recording(eeg_like(2400, 40.0), sampling_rate=40)


def test_array_in_volts_converted_with_warning(caplog):
    x = eeg_like(3000, 100.0)
    with caplog.at_level(logging.WARNING):
        rec = load_recording(x * 1e-6, sampling_rate=100)
    np.testing.assert_allclose(rec.data, x, rtol=1e-5, atol=1e-3)
    assert "looks like volts" in caplog.text


def test_caller_array_is_never_mutated():
    x = eeg_like(9500, 100.0)
    x[100:110] = np.nan
    x[4000:4300] = np.inf
    x *= 1e-6  # volts: converted inside
    before = x.copy()
    rec = load_recording(x, sampling_rate=100)
    np.testing.assert_array_equal(x, before)
    rec.data[:] = 0
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- gaps, flat, length
def test_short_nan_gap_interpolated_with_warning(caplog):
    x = eeg_like(9000, 100.0)
    x[1000:1050] = np.nan  # 0.5 s
    with caplog.at_level(logging.WARNING):
        rec = load_recording(x, sampling_rate=100)
    assert np.isfinite(rec.data).all() and rec.bad_epochs == frozenset()
    np.testing.assert_allclose(rec.data[1000:1050], np.linspace(x[999], x[1050], 52)[1:-1], atol=1e-3)
    assert "interpolated" in caplog.text


def test_long_gap_zero_filled_and_epochs_marked_bad(caplog):
    x = eeg_like(12000, 100.0)
    x[2900:3200] = np.nan  # 3 s across the boundary of epochs 0 and 1
    x[9000:9100] = np.inf  # 1 s in epoch 3: at the threshold, so not interpolated
    with caplog.at_level(logging.WARNING):
        rec = load_recording(x, sampling_rate=100)
    assert rec.bad_epochs == frozenset({0, 1, 3})
    assert np.all(rec.data[2900:3200] == 0) and np.isfinite(rec.data).all()
    assert "filled with zeros" in caplog.text


def test_all_nan_channel_refused():
    with pytest.raises(ValueError, match=r"no finite sample"):
        load_recording(np.full(3000, np.nan), sampling_rate=100)


def test_flat_epochs_marked_bad(caplog):
    x = eeg_like(12000, 100.0)
    x[3000:6000] = 12.0  # disconnected electrode: constant offset
    x[6000:9000] = 0.2 * np.random.default_rng(RNG_SEED).standard_normal(3000)  # below 0.5 uV SD
    with caplog.at_level(logging.WARNING):
        rec = load_recording(x, sampling_rate=100)
    assert rec.bad_epochs == frozenset({1, 2})
    assert np.std(epochs(rec)[2]) < FLAT_STD_UV < np.std(epochs(rec)[3])
    assert "flat" in caplog.text


def test_clipped_epochs_reported_with_warning_but_not_bad(tmp_path, caplog):
    x = eeg_like(90 * 100, 100.0)
    x[3000:6000] *= 4  # epoch 1: large waves saturate the amplifier's +-150 uV range
    path = write_edf(tmp_path / "clip.edf", [("EEG Fpz-Cz", 100, np.clip(x, -150, 150), "uV", 150)])
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path)
    assert rec.clipped_epochs == frozenset({1}) and rec.bad_epochs == frozenset()
    assert "clipped" in caplog.text
    assert load_recording(eeg_like(9000, 100.0), sampling_rate=100).clipped_epochs == frozenset()


def test_recording_shorter_than_one_epoch_refused():
    with pytest.raises(ValueError, match=r"shorter than one 30-s epoch"):
        load_recording(eeg_like(2999, 100.0), sampling_rate=100)


def test_incomplete_last_epoch_dropped_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        rec = load_recording(eeg_like(256 * 75, 256.0), sampling_rate=256)
    assert rec.n_epochs == 2 and rec.data.shape == (6000,)
    assert "the last 15.00 s do not fill a 30-s epoch and were dropped" in caplog.text


def test_epochs_is_a_view_of_shape_n_epochs_by_samples():
    rec = load_recording(eeg_like(9000, 100.0), sampling_rate=100)
    view = epochs(rec)
    assert view.shape == (3, 3000) and np.shares_memory(view, rec.data)
    np.testing.assert_array_equal(view[1], rec.data[3000:6000])


def test_epoch_length_must_be_whole_samples():
    with pytest.raises(ValueError, match=r"epoch_sec: .* whole number of samples"):
        load_recording(eeg_like(9000, 100.0), sampling_rate=100, epoch_sec=30.005)


def test_unsupported_data_type_refused():
    with pytest.raises(ValueError, match=r"data: expected a path to an EDF/BDF file, an mne.io.Raw"):
        load_recording({"eeg": [1, 2, 3]})


# --------------------------------------------------------------------------- lightness
def test_io_package_imports_no_torch():
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, types; pkg = types.ModuleType('eeg_vlm'); "
        f"pkg.__path__ = [{str(root / 'eeg_vlm')!r}]; sys.modules['eeg_vlm'] = pkg; "
        "import eeg_vlm.io, eeg_vlm.io.export, eeg_vlm.io.read; "
        "bad = [m for m in ('torch', 'transformers', 'mne', 'matplotlib', 'pyedflib') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- EOG / chin EMG for the grounded explanations (eeg_vlm.io.eog_emg) ---


def test_eog_emg_are_read_in_uv_and_cut_into_the_eeg_epochs(tmp_path):
    from eeg_vlm.io.eog_emg import read_eog_emg

    rng = np.random.default_rng(0)
    eeg, eog = rng.normal(0, 20, 100 * 95), rng.normal(0, 50, 100 * 95)
    emg = np.abs(rng.normal(0, 0.002, 95))  # a 1-Hz envelope in mV, as some exports write it
    path = write_edf(tmp_path / "n.edf", [("EEG Fpz-Cz", 100, eeg, "uV"), ("EOG horizontal", 100, eog, "uV"),
                                          ("EMG submental", 1, emg, "mV", 0.01)])
    eog_ep, emg_ep, names = read_eog_emg(path, n_epochs=3)
    assert names == {"eog": "EOG horizontal", "emg": "EMG submental"}
    assert eog_ep.shape == (3, 3000) and emg_ep.shape == (3, 30)  # (E, samples per 30-s epoch)
    np.testing.assert_allclose(eog_ep.ravel(), eog[:9000], atol=0.01)
    np.testing.assert_allclose(emg_ep.ravel(), emg[:90] * 1000, rtol=0.01, atol=0.01)  # mV -> uV


def test_eeg_only_night_has_no_eog_or_emg(tmp_path):
    from eeg_vlm.io.eog_emg import read_eog_emg

    path = write_edf(tmp_path / "n.edf", [("C3-A1", 100, np.random.default_rng(1).normal(0, 20, 6000), "uV"),
                                          ("Leg EMG", 200, np.random.default_rng(2).normal(0, 5, 12000), "uV")])
    assert read_eog_emg(path, n_epochs=2) == (None, None, {"eog": None, "emg": None})


@pytest.mark.parametrize(("labels", "eog", "emg"), [
    (["EEG Fpz-Cz", "EOG left", "EOG horizontal", "EMG submental"], 2, 3),  # horizontal EOG first
    (["C4-M1", "E1-M2", "Chin1-Chin2", "LAT"], 1, 2),  # AASM names
    (["Fz", "Tibialis EMG", "EMG Chin"], None, 2),  # leg EMG is never chin tone
])
def test_eog_and_chin_emg_channels_are_found_by_name(labels, eog, emg):
    from eeg_vlm.io.eog_emg import find_emg_channel, find_eog_channel

    assert (find_eog_channel(labels), find_emg_channel(labels)) == (eog, emg)
