"""Hardening (issue 7): every bad input gets a clear ValueError or a logged recovery, and nothing is lost.

Each case is fed to the public entry points it can reach: ``eeg_vlm.stage_night``, the CLI ``eeg-vlm stage``
(``eeg_vlm.cli.main``: exit code 2 and the message on stderr), the processor, and the dataset builder
(``build_dataset``, ``read_night``, ``hypnogram_to_epochs``). Input files and arrays are compared before and after.
The killed-build case is covered by ``tests/test_build.py::test_interrupted_build_resumes_to_the_same_result``;
here a build that stops on a bad file mid-way is resumed instead (lighter: 2 nights of 10 minutes).

Run: cd /work/main && python -m pytest tests/test_bad_inputs.py -q
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eeg_vlm import EEGVLMImageProcessor, stage_night
from eeg_vlm.cli import main as cli_main
from eeg_vlm.dataset_builder import build as build_mod
from eeg_vlm.dataset_builder.build import build_dataset
from eeg_vlm.dataset_builder.sleep_edfx import hypnogram_to_epochs, read_night
from eeg_vlm.train.modeling_setup import load_model

START = dt.datetime(2022, 5, 6, 23, 0, 0)
STAGES = {"W", "N1", "N2", "N3", "REM"}


# --------------------------------------------------------------------------- helpers
def eeg_like(seconds: float, rate: float, *, seed: int = 0) -> np.ndarray:
    """Deterministic EEG-like signal in uV: 2 Hz (40 uV) + 12 Hz (15 uV) + white noise (5 uV)."""
    t = np.arange(int(round(seconds * rate))) / rate
    noise = 5.0 * np.random.default_rng(seed).standard_normal(t.size)
    return 40 * np.sin(2 * np.pi * 2 * t) + 15 * np.sin(2 * np.pi * 12 * t) + noise


def write_edf(path: Path, signals, *, file_type=pyedflib.FILETYPE_EDFPLUS, start=START) -> Path:
    """``signals`` = [(label, rate_hz, values, dimension), ...], 1-s data records, written with pyedflib."""
    bdf = file_type in (pyedflib.FILETYPE_BDF, pyedflib.FILETYPE_BDFPLUS)
    digital = 8388607 if bdf else 32767
    headers = []
    for label, rate, values, dimension in signals:
        peak = float(np.max(np.abs(values))) * 1.05 or 1.0
        peak = float(f"{peak:.2g}") if peak < 1 else float(np.ceil(peak))  # 8 header characters
        headers.append(dict(label=label, dimension=dimension, sample_frequency=rate, physical_min=-peak,
                            physical_max=peak, digital_min=-digital - 1, digital_max=digital))
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=file_type)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(start)
        writer.writeSamples([np.asarray(s[2], dtype=np.float64) for s in signals])
    finally:
        writer.close()
    return path


def psg(path: Path, *, seconds: float = 90, eeg_rate: float = 100, eeg=None) -> Path:
    """A short Sleep-EDFx-like PSG: EEG Fpz-Cz, EOG, EMG (100 Hz) and 1-Hz respiration."""
    x = eeg_like(seconds, eeg_rate) if eeg is None else eeg
    return write_edf(path, [
        ("EEG Fpz-Cz", eeg_rate, x, "uV"),
        ("EOG horizontal", 100, eeg_like(seconds, 100, seed=3), "uV"),
        ("EMG submental", 100, eeg_like(seconds, 100, seed=4) / 4, "uV"),
        ("Resp oro-nasal", 1, 100 * np.sin(np.arange(int(seconds)) / 3.0), "uV"),
    ])


def hypnogram(path: Path, annotations, *, start=START) -> Path:
    """Annotation-only EDF+ hypnogram, as Sleep-EDFx ``*-Hypnogram.edf``."""
    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setStartdatetime(start)
    for onset, duration, label in annotations:
        writer.writeAnnotation(onset, duration, label)
    writer.close()
    return path


def digest(path: Path) -> str:
    """SHA-256 of a file, or of every file of a folder (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file():
            h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode() + p.read_bytes())
    return h.hexdigest()


def stage_file(path: Path, model, **kwargs):
    """stage_night on a file, checking the file is unchanged afterwards (also when it raises)."""
    before = digest(path) if path.is_file() else None
    try:
        return stage_night(path, model=model, progress=False, **kwargs)
    finally:
        if before is not None:
            assert digest(path) == before, "the input file was modified"


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``eeg-vlm`` in-process: (exit code, stdout, stderr)."""
    code = cli_main(["stage", *map(str, args), "-q"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def good_psg(tmp_path_factory) -> Path:
    return psg(tmp_path_factory.mktemp("good") / "night.edf")


@pytest.fixture()
def tiny_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny saved model to break."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


# --------------------------------------------------------------------------- EEG channel
def test_absent_channel_lists_the_available_ones(good_psg, tiny_model_dir, capsys, tmp_path):
    with pytest.raises(ValueError, match=r"channel: no channel named 'C3-M2' in this recording\. Available "
                                         r"channels: 'EEG Fpz-Cz', 'EOG horizontal', .*Pass one of them as "
                                         r"channel= \(CLI: --channel NAME\)"):
        stage_file(good_psg, tiny_model_dir, channel="C3-M2")
    code, _, err = cli(capsys, good_psg, "--channel", "C3-M2", "--out", tmp_path, "--model", tiny_model_dir)
    assert code == 2 and "no channel named 'C3-M2'" in err and "'EEG Fpz-Cz'" in err
    assert not list(tmp_path.iterdir()), "nothing is written for a refused night"
    with pytest.raises(ValueError, match=r"channels: \['EEG C3'\] not in SC4001E0-PSG\.edf; available channels: "
                                         r"\['EEG Fpz-Cz'.*Pass channels= with labels from that list"):
        shutil.copy(good_psg, tmp_path / "SC4001E0-PSG.edf")
        hypnogram(tmp_path / "SC4001EC-Hypnogram.edf", [(0, 90, "Sleep stage 2")])
        read_night(tmp_path / "SC4001E0-PSG.edf", tmp_path / "SC4001EC-Hypnogram.edf", channels=("EEG C3",))


def test_no_eeg_channel_at_all_refused(tmp_path, tiny_model_dir):
    path = write_edf(tmp_path / "cardio.edf", [("ECG", 100, eeg_like(90, 100), "uV"),
                                                ("Resp oro-nasal", 100, eeg_like(90, 100, seed=1), "uV"),
                                                ("SpO2", 100, 95 + eeg_like(90, 100, seed=2) / 100, "%")])
    with pytest.raises(ValueError, match=r"no EEG channel found among 'ECG', 'Resp oro-nasal', 'SpO2'.*Expected "
                                         r"a label such as 'EEG Fpz-Cz'.*channel='NAME' \(CLI: --channel NAME\)"):
        stage_file(path, tiny_model_dir)


def test_only_eog_and_emg_refused(tmp_path, tiny_model_dir):
    path = write_edf(tmp_path / "eog_emg.edf", [("EOG horizontal", 100, eeg_like(90, 100), "uV"),
                                                 ("EMG submental", 100, eeg_like(90, 100, seed=1), "uV")])
    with pytest.raises(ValueError, match=r"no EEG channel found among 'EOG horizontal', 'EMG submental' \(EOG, EMG"):
        stage_file(path, tiny_model_dir)
    x = np.stack([eeg_like(90, 100), eeg_like(90, 100, seed=1)])
    with pytest.raises(ValueError, match=r"no EEG channel found among 'LOC', 'Chin'"):
        stage_night(x, sampling_rate=100, channel_names=["LOC", "Chin"], model=tiny_model_dir, progress=False)


# --------------------------------------------------------------------------- sampling rates
@pytest.mark.parametrize("rate", [50, 128, 200, 250, 256, 500, 512])
def test_sampling_rates_50_to_512_hz_are_resampled_to_whole_epochs(rate, tmp_path, tiny_model_dir, caplog):
    path = psg(tmp_path / f"night_{rate}.edf", seconds=95, eeg_rate=rate)
    with caplog.at_level(logging.WARNING):
        result = stage_file(path, tiny_model_dir)
    assert len(result) == 3 and set(result.stages) <= STAGES  # 95 s: three 30-s epochs, the last 5 s dropped
    assert result.sampling_rate == rate and result.channel == "EEG Fpz-Cz"
    assert "the last 5.00 s do not fill a 30-s epoch" in caplog.text
    processor = EEGVLMImageProcessor(context_epochs=1)
    pixels = processor(eeg=eeg_like(30, rate), sampling_rate=rate)["pixel_values"]
    assert pixels.shape == (1, 3, 224, 224)


def test_mixed_rates_across_channels_in_one_edf(tmp_path, tiny_model_dir):
    path = write_edf(tmp_path / "mixed.edf", [
        ("Resp oro-nasal", 10, eeg_like(120, 10), "uV"),
        ("EMG submental", 200, eeg_like(120, 200, seed=1), "uV"),
        ("EEG C4-M1", 256, eeg_like(120, 256, seed=2), "uV"),
        ("EOG E1", 128, eeg_like(120, 128, seed=3), "uV"),
        ("SpO2", 1, np.full(120, 96.0), "%"),
    ])
    result = stage_file(path, tiny_model_dir)
    assert len(result) == 4 and result.channel == "EEG C4-M1" and result.sampling_rate == 256
    assert np.array_equal(result.epoch_onsets, [0.0, 30.0, 60.0, 90.0])


def test_sampling_rate_below_50_hz_refused(tmp_path, tiny_model_dir, capsys):
    path = write_edf(tmp_path / "slow.edf", [("EEG Fpz-Cz", 40, eeg_like(90, 40), "uV")])
    message = r"data: channel 'EEG Fpz-Cz' of .* is sampled at 40 Hz, below the minimum of 50 Hz.*100 Hz or more"
    with pytest.raises(ValueError, match=message):
        stage_file(path, tiny_model_dir)
    x = eeg_like(90, 40)
    before = x.copy()
    with pytest.raises(ValueError, match=r"data: channel 'EEG' of array is sampled at 40 Hz, below the minimum"):
        stage_night(x, sampling_rate=40, model=tiny_model_dir, progress=False)
    assert np.array_equal(x, before)
    with pytest.raises(ValueError, match=r"sampling_rate: received 40 Hz, expected >= 50 Hz"):
        EEGVLMImageProcessor()(eeg=eeg_like(30, 40), sampling_rate=40)
    code, _, err = cli(capsys, path, "--out", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 2 and "below the minimum of 50 Hz" in err


# --------------------------------------------------------------------------- units
def test_signal_in_volts_is_warned_and_converted(tiny_model_dir, caplog):
    uv = eeg_like(90, 100)
    volts = uv * 1e-6
    before = volts.copy()
    with caplog.at_level(logging.WARNING):
        from_volts = stage_night(volts, sampling_rate=100, model=tiny_model_dir, progress=False)
    assert "the signal looks like volts and was multiplied by 1e6" in caplog.text
    assert np.array_equal(volts, before), "the caller's array is not converted in place"
    from_uv = stage_night(uv, sampling_rate=100, model=tiny_model_dir, progress=False)
    assert from_volts.stages == from_uv.stages
    np.testing.assert_allclose(from_volts.probabilities, from_uv.probabilities, atol=1e-5)


def test_edf_physical_dimension_v_mv_uv_give_the_same_staging(tmp_path, tiny_model_dir, caplog):
    uv = eeg_like(90, 100)
    results = {}
    for dimension, scale in (("uV", 1.0), ("mV", 1e-3), ("V", 1e-6)):
        path = write_edf(tmp_path / f"{dimension}.edf", [("EEG Fpz-Cz", 100, uv * scale, dimension)])
        with caplog.at_level(logging.WARNING):
            results[dimension] = stage_file(path, tiny_model_dir)
    assert "looks like volts" not in caplog.text  # the header's unit is used, not guessed
    for dimension in ("mV", "V"):
        assert results[dimension].stages == results["uV"].stages
        np.testing.assert_allclose(results[dimension].probabilities, results["uV"].probabilities, atol=2e-3)


# --------------------------------------------------------------------------- NaN/inf, flat, clipped
def test_short_nan_gap_interpolated_with_warning(tiny_model_dir, caplog):
    x = eeg_like(90, 100)
    x[4000:4020] = np.nan  # 0.2 s of lost packets
    x[7000] = np.inf
    before = x.copy()
    with caplog.at_level(logging.WARNING):
        result = stage_night(x, sampling_rate=100, model=tiny_model_dir, progress=False)
    assert "2 gap(s) of NaN/inf shorter than 1 s (21 samples) were linearly interpolated" in caplog.text
    assert set(result.stages) <= STAGES and np.isfinite(result.probabilities).all()
    np.testing.assert_array_equal(x, before)  # NaN stay NaN in the caller's array


def test_long_nan_gap_marks_its_epochs_unscorable(tiny_model_dir, tmp_path, caplog):
    x = eeg_like(120, 100)
    x[3500:4500] = np.nan  # 10 s inside epoch 1
    with caplog.at_level(logging.WARNING):
        result = stage_night(x, sampling_rate=100, model=tiny_model_dir, progress=False)
    assert "1 gap(s) of NaN/inf of 1 s or longer (10.0 s in all) were filled with zeros" in caplog.text
    assert result.stages[1] == "UNS" and set(result.stages[:1] + result.stages[2:]) <= STAGES
    assert np.isnan(result.probabilities[1]).all() and np.isfinite(result.probabilities[[0, 2, 3]]).all()
    assert result.bad_epochs == frozenset({1})
    result.to_csv(tmp_path / "h.csv")
    assert [row["stage"] for row in csv_rows(tmp_path / "h.csv")][1] == "UNS"
    result.to_edf(tmp_path / "h.edf")
    with pyedflib.EdfReader(str(tmp_path / "h.edf")) as reader:
        assert "Sleep stage ?" in list(reader.readAnnotations()[2])
    with pytest.raises(ValueError, match=r"eeg: received NaN or infinite samples, expected finite values in uV\. "
                                         r"Interpolate short gaps"):
        EEGVLMImageProcessor()(eeg=x[3000:6000], sampling_rate=100)


def test_flat_channel_marks_epochs_unscorable(tmp_path, tiny_model_dir, capsys, caplog):
    x = eeg_like(120, 100)
    x[6000:9000] = 0.0  # electrode disconnected for epoch 2
    path = psg(tmp_path / "flat_epoch.edf", seconds=120, eeg=x)
    with caplog.at_level(logging.WARNING):
        result = stage_file(path, tiny_model_dir)
    assert "1 of 4 epoch(s) are flat (SD < 0.5 uV: disconnected electrode?)" in caplog.text
    assert result.stages[2] == "UNS" and [s in STAGES for s in result.stages] == [True, True, False, True]
    dead = psg(tmp_path / "dead.edf", seconds=120, eeg=np.zeros(12000))  # the whole channel is flat
    code, out, err = cli(capsys, dead, "--out", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 0, err
    assert "4 epochs on 'EEG Fpz-Cz' (UNS 4)" in out
    assert [row["stage"] for row in csv_rows(tmp_path / "out" / "dead.hypnogram.csv")] == ["UNS"] * 4
    assert json.loads((tmp_path / "out" / "dead.summary.json").read_text())["TST"] == 0.0


def test_clipped_stretches_are_warned_and_still_staged(tmp_path, tiny_model_dir, caplog):
    x = eeg_like(120, 100)
    x[3000:6000] *= 4
    x = np.clip(x, -120, 120)  # amplifier saturates during epoch 1
    path = psg(tmp_path / "clipped.edf", seconds=120, eeg=x)
    with caplog.at_level(logging.WARNING):
        result = stage_file(path, tiny_model_dir)
    assert "1 epoch(s) are clipped (>= 1 % of samples at the signal's extremes" in caplog.text
    assert set(result.stages) <= STAGES and len(result) == 4


# --------------------------------------------------------------------------- length
def test_recording_shorter_than_one_epoch_refused(tmp_path, tiny_model_dir, capsys):
    path = psg(tmp_path / "short.edf", seconds=20)
    with pytest.raises(ValueError, match=r"data: channel 'EEG Fpz-Cz' of .* lasts 20\.0 s, shorter than one 30-s "
                                         r"epoch; pass a recording of at least 30 s"):
        stage_file(path, tiny_model_dir)
    code, _, err = cli(capsys, path, "--out", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 2 and "shorter than one 30-s epoch" in err
    with pytest.raises(ValueError, match=r"eeg: received 2000 samples \(20\.0 s at 100 Hz\), expected one 30-s"):
        EEGVLMImageProcessor()(eeg=eeg_like(20, 100), sampling_rate=100)


def test_partial_last_epoch_dropped_with_warning(tiny_model_dir, caplog):
    x = eeg_like(100, 100)
    with caplog.at_level(logging.WARNING):
        result = stage_night(x, sampling_rate=100, model=tiny_model_dir, progress=False)
    assert len(result) == 3
    assert "the last 10.00 s do not fill a 30-s epoch and were dropped (3 epochs kept)" in caplog.text


# --------------------------------------------------------------------------- files
def test_truncated_edf_refused(good_psg, tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "cut.edf"
    path.write_bytes(good_psg.read_bytes()[:-5000])
    with pytest.raises(ValueError, match=r"data: .*cut\.edf' is truncated: \d+ bytes, but its header announces "
                                         r"\d+ bytes .*copy/download it again"):
        stage_file(path, tiny_model_dir)
    code, _, err = cli(capsys, path, "--out", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 2 and "is truncated" in err


def test_corrupt_header_refused(good_psg, tmp_path, tiny_model_dir):
    raw = bytearray(good_psg.read_bytes())
    raw[244:252] = b"one sec."  # duration of a data record
    path = tmp_path / "corrupt.edf"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"data: .*corrupt\.edf' could not be read as EDF/BDF \(.*\)\. The file is "
                                         r"truncated or its header is corrupt"):
        stage_file(path, tiny_model_dir)


def test_non_edf_file_with_edf_extension_refused(tmp_path, tiny_model_dir):
    path = tmp_path / "export.edf"
    path.write_text("time,Fpz-Cz\n" + "\n".join(f"{i / 100},{v:.2f}" for i, v in enumerate(eeg_like(5, 100))))
    with pytest.raises(ValueError, match=r"data: .* is not an EDF/BDF file \(it does not start with an EDF header; "
                                         r"first bytes b'time,Fpz-Cz\\n.*export the night as EDF"):
        stage_file(path, tiny_model_dir)


def test_bdf_is_staged(tmp_path, tiny_model_dir, capsys):
    x = eeg_like(95, 256)
    path = write_edf(tmp_path / "night.bdf", [("EEG Cz", 256, x, "uV")], file_type=pyedflib.FILETYPE_BDFPLUS)
    result = stage_file(path, tiny_model_dir)
    assert len(result) == 3 and result.channel == "EEG Cz"
    code, _, err = cli(capsys, path, "--out", tmp_path / "out", "--model", tiny_model_dir)
    assert code == 0, err
    assert (tmp_path / "out" / "night.hypnogram.csv").exists()


def test_empty_file_refused(tmp_path, tiny_model_dir):
    (tmp_path / "empty.edf").touch()
    with pytest.raises(ValueError, match=r"data: .*empty\.edf' is empty \(0 bytes\), expected an EDF file.*again"):
        stage_file(tmp_path / "empty.edf", tiny_model_dir)


def test_missing_path_refused(tmp_path, tiny_model_dir):
    with pytest.raises(ValueError, match=r"data: no file at .*nowhere\.edf' \(working directory .*\)\. Check the "
                                         r"path and pass an existing \.edf file"):
        stage_file(tmp_path / "nowhere.edf", tiny_model_dir)
    # the real command: exit code 2, the message on stderr, no traceback
    cmd = [sys.executable, "-m", "eeg_vlm.cli", "stage", str(tmp_path / "nowhere.edf"), "--model",
           str(tiny_model_dir), "--out", str(tmp_path / "out"), "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: {tmp_path / 'nowhere.edf'}: data: no file at" in done.stderr
    assert not (tmp_path / "out").exists(), "no folder is left behind when nothing is written"


def test_directory_refused(good_psg, tiny_model_dir, capsys, tmp_path):
    with pytest.raises(ValueError, match=r"data: .* is a directory, expected the path of one EDF file\. It holds "
                                         r"for example: night\.edf\. Pass a file path"):
        stage_file(good_psg.parent, tiny_model_dir)
    code, _, err = cli(capsys, good_psg.parent, "--out", tmp_path, "--model", tiny_model_dir)
    assert code == 2 and "is a directory" in err


def test_output_directory_not_writable_refused(good_psg, two_nights, tmp_path, tiny_model_dir, capsys):
    # Tests run as root here, where chmod does not stop writes: a path whose parent is a regular file is the
    # portable way to make an output folder that cannot be created or written.
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    code, _, err = cli(capsys, good_psg, "--out", blocker / "out", "--model", tiny_model_dir)
    assert code == 2 and f"--out: cannot create the folder '{blocker / 'out'}'" in err
    assert "expected a writable directory" in err and blocker.read_text() == "keep me"
    result = stage_file(good_psg, tiny_model_dir)
    with pytest.raises(ValueError, match=r"path: .*a_file' is not a directory, so 'h\.csv' cannot be written"):
        result.to_csv(blocker / "h.csv")
    with pytest.raises(ValueError, match=r"out: cannot create the folder .*a_file/sub.*expected a path in a "
                                         r"writable directory"):
        build_dataset(two_nights, blocker / "sub" / "ds", progress=False)
    if os.geteuid() != 0:  # where permissions apply, a read-only folder is refused as well
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match=r"path: the output directory .* is not writable"):
            result.to_csv(locked / "h.csv")


def test_existing_output_not_overwritten_without_flag(good_psg, tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    assert cli(capsys, good_psg, "--out", out, "--model", tiny_model_dir)[0] == 0
    written = {p.name: digest(p) for p in out.iterdir()}
    assert len(written) == 4
    code, _, err = cli(capsys, good_psg, "--out", out, "--model", tiny_model_dir)
    assert code == 2 and "already exists. Pass --overwrite to replace it, or --out DIR" in err
    assert {p.name: digest(p) for p in out.iterdir()} == written, "existing outputs are untouched"
    result = stage_file(good_psg, tiny_model_dir)
    with pytest.raises(ValueError, match=r"path: .*night\.hypnogram\.csv' already exists; refusing to overwrite it\. "
                                         r"Pass overwrite=True \(CLI: --overwrite\)"):
        result.to_csv(out / "night.hypnogram.csv")
    assert cli(capsys, good_psg, "--out", out, "--model", tiny_model_dir, "--overwrite")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(written), "no temporary file is left behind"


# --------------------------------------------------------------------------- hypnograms (dataset builder)
@pytest.fixture()
def pair(tmp_path):
    """A 10-min Sleep-EDFx-like PSG with its file names; the test writes the hypnogram."""
    psg_path = psg(tmp_path / "SC4011E0-PSG.edf", seconds=600)
    return psg_path, tmp_path / "SC4011EH-Hypnogram.edf"


def test_hypnogram_start_time_mismatch_aligned_with_warning(pair, caplog):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 300, "Sleep stage 2")], start=START + dt.timedelta(seconds=90))
    with caplog.at_level(logging.WARNING):
        night = read_night(psg_path, hyp_path)
    assert "aligning the hypnogram by +90.0 s" in caplog.text
    assert night.epoch_onsets.tolist() == [90.0 + 30 * k for k in range(10)]


def test_hypnogram_outside_the_psg_refused(pair):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 300, "Sleep stage 2")], start=START + dt.timedelta(hours=5))
    with pytest.raises(ValueError, match=r"hypnogram_path: SC4011EH-Hypnogram\.edf scores no epoch inside "
                                         r"SC4011E0-PSG\.edf \(PSG 0 to 600\.0 s; hypnogram \+18000\.0.*expected at "
                                         r"least one scored 30-s epoch\. Check that the two files belong"):
        read_night(psg_path, hyp_path)


def test_hypnogram_longer_than_psg_is_cut_with_warning(pair, caplog):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 300, "Sleep stage W"), (300, 600, "Sleep stage 2")])
    with caplog.at_level(logging.WARNING):
        night = read_night(psg_path, hyp_path)
    assert "'Sleep stage 2' (300.0 s to 900.0 s) runs outside the signal (0 to 600.0 s); 10 epoch(s) cut" \
        in caplog.text
    assert len(night) == 20 and night.epoch_onsets[-1] == 570.0


def test_hypnogram_shorter_than_psg_uses_the_scored_part_with_warning(pair, caplog):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 120, "Sleep stage W"), (120, 120, "Sleep stage 1")])
    with caplog.at_level(logging.WARNING):
        night = read_night(psg_path, hyp_path)
    assert "the hypnogram ends at 240.0 s, 360.0 s before the end of the PSG (600.0 s)" in caplog.text
    assert night.stages == ["W"] * 4 + ["N1"] * 4


def test_unknown_stage_labels_counted_and_excluded(pair, caplog):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 120, "Sleep stage 2"), (120, 90, "Lights off"), (210, 60, "Sleep stage N"),
                         (270, 60, "Sleep stage 3"), (330, 270, "Lights off")])
    with caplog.at_level(logging.WARNING):
        night = read_night(psg_path, hyp_path)
    assert night.excluded == {"Lights off": 12, "Sleep stage N": 2}
    assert night.stages == ["N2"] * 4 + ["N3"] * 2
    assert "Unknown hypnogram label 'Lights off'" in caplog.text and "'Sleep stage N'" in caplog.text
    table = hypnogram_to_epochs([(0, 60, "Sleep stage 2"), (60, 30, "Stage X")])
    assert table.excluded == {"Stage X": 1} and table.stage == ["N2", "N2"]


def test_hypnogram_without_sleep_keeps_all_wake_with_warning(pair, caplog):
    psg_path, hyp_path = pair
    hypnogram(hyp_path, [(0, 600, "Sleep stage W")])
    with caplog.at_level(logging.WARNING):
        night = read_night(psg_path, hyp_path)
    assert "The hypnogram holds no sleep epoch; the wake trim is skipped and all 20 wake epochs are kept" \
        in caplog.text
    assert night.stages == ["W"] * 20


# --------------------------------------------------------------------------- dataset builds
@pytest.fixture(scope="module")
def two_nights(tmp_path_factory):
    """Two 10-min nights of two subjects, Sleep-EDFx names."""
    folder = tmp_path_factory.mktemp("nights")
    for subject, seed in ((0, 1), (1, 2)):
        psg(folder / f"SC40{subject}1E0-PSG.edf", seconds=600, eeg=eeg_like(600, 100, seed=seed))
        hypnogram(folder / f"SC40{subject}1EC-Hypnogram.edf",
                  [(0, 150, "Sleep stage W"), (150, 240, "Sleep stage 2"), (390, 210, "Sleep stage 3")])
    return folder


def test_build_stopped_by_a_bad_file_resumes_to_the_uninterrupted_result(two_nights, tmp_path):
    # The kill itself (KeyboardInterrupt mid-way) is tests/test_build.py::test_interrupted_build_resumes_to_the_
    # same_result; here the second night is corrupt, the build stops with its ValueError, the file is repaired.
    source = Path(shutil.copytree(two_nights, tmp_path / "source"))
    reference = build_dataset(two_nights, tmp_path / "reference", progress=False)
    bad = source / "SC4011E0-PSG.edf"
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[:-3000])
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match=r"psg_path: .*SC4011E0-PSG\.edf' is truncated"):
        build_dataset(source, out, progress=False)
    shards = tmp_path / "ds.incomplete" / "nights"
    assert not out.exists() and not (tmp_path / "ds.lock").exists()
    assert [p.name for p in shards.glob("*.parquet")] == ["SC4001.parquet"]
    kept = digest(shards / "SC4001.parquet")
    bad.write_bytes(good_bytes)
    calls = []
    real = build_mod.render_night
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build_mod, "render_night", lambda files, *a, **k: calls.append(files.name) or real(files, *a, **k))
        kept_now = digest(shards / "SC4001.parquet")
        resumed = build_dataset(source, out, progress=False)
    assert kept_now == kept and calls == ["SC4011"], "the rendered night is kept and not rendered again"
    assert sorted(resumed) == sorted(reference)
    for split in reference:
        a, b = reference[split], resumed[split]
        assert a["cot"] == b["cot"] and a["stage"] == b["stage"] and a["recording"] == b["recording"]
        assert a.data.column("image").equals(b.data.column("image"))


def test_two_builds_into_the_same_directory(two_nights, tmp_path, caplog):
    out = tmp_path / "ds"
    lock = tmp_path / "ds.lock"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a build still running
    try:
        lock.write_text(str(other.pid))
        with pytest.raises(ValueError, match=rf"out: another build \(pid {other.pid}\) is writing .*ds' \(lock .*"
                                             r"ds\.lock'\), expected one build per output folder\. Wait for it"):
            build_dataset(two_nights, out, progress=False)
        assert lock.read_text() == str(other.pid) and not out.exists(), "the running build's lock is respected"
    finally:
        other.kill()
        other.wait()
    with caplog.at_level(logging.WARNING):  # the same lock, its build now gone (killed): taken over
        first = build_dataset(two_nights, out, progress=False)
    assert f"was left by a build that is no longer running (pid {other.pid}); taking it over" in caplog.text
    assert not lock.exists() and len(first["train"]) + len(first["test"]) == 40
    saved = digest(out)
    with pytest.raises(ValueError, match=r"out: .*ds' already exists\. Choose another folder or pass overwrite=True"):
        build_dataset(two_nights, out, progress=False)
    assert digest(out) == saved, "the finished dataset is untouched by the refused second build"


# --------------------------------------------------------------------------- model directories
def test_model_directory_missing_a_file_refused(tiny_copy, good_psg, capsys, tmp_path):
    (tiny_copy / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"model: .* has no model\.safetensors, expected the weights beside "
                                         r"config\.json\. .*copy the whole model directory again"):
        stage_file(good_psg, tiny_copy)
    code, _, err = cli(capsys, good_psg, "--out", tmp_path / "out", "--model", tiny_copy)
    assert code == 2 and "has no model.safetensors" in err
    with pytest.raises(ValueError, match=r"model: could not load .*does-not-exist' as a Hub id \(no local directory"):
        load_model(str(tmp_path / "does-not-exist"))


def test_model_directory_missing_tokenizer_refused(tiny_model_dir, tmp_path):
    broken = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).unlink()
    with pytest.raises(ValueError, match=r"model: .* lacks tokenizer\.json / tokenizer_config\.json, expected the "
                                         r"processor saved beside the model"):
        load_model(str(broken))
    (broken / "config.json").unlink()
    with pytest.raises(ValueError, match=r"model: .* has no config\.json, expected a saved EEG-VLM directory"):
        load_model(str(broken))


def test_wrong_model_type_refused(tiny_copy, good_psg, capsys, tmp_path):
    config = json.loads((tiny_copy / "config.json").read_text())
    config["model_type"] = "llava"
    (tiny_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model: .* is a 'llava' model \(config\.json model_type\), expected "
                                         r"'eeg_vlm'\. Pass an EEG-VLM directory or Hub id"):
        stage_file(good_psg, tiny_copy)
    code, _, err = cli(capsys, good_psg, "--out", tmp_path / "out", "--model", tiny_copy)
    assert code == 2 and "expected 'eeg_vlm'" in err


def test_pickle_checkpoint_refused(tiny_copy, good_psg, monkeypatch):
    import torch
    from safetensors.torch import load_file

    state = load_file(tiny_copy / "model.safetensors")
    torch.save(state, tiny_copy / "pytorch_model.bin")
    (tiny_copy / "model.safetensors").unlink()

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickle checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ValueError, match=r"model: .* holds the pickle checkpoint 'pytorch_model\.bin', expected "
                                         r"model\.safetensors\. Pickle files can run arbitrary code.*safetensors only"):
        stage_file(good_psg, tiny_copy)
    with pytest.raises(ValueError, match=r"model: received the file .*pytorch_model\.bin'.*Pickle checkpoints are "
                                         r"refused .*safetensors only"):
        load_model(str(tiny_copy / "pytorch_model.bin"))


# --------------------------------------------------------------------------- fuzzing the EDF path
# (offset, length) of the EDF header fields, main header then those of signal 0 of this 4-signal file
_FIELDS = [(0, 8), (168, 8), (176, 8), (184, 8), (192, 44), (236, 8), (244, 8), (252, 4)]
_FIELDS += [(256 + 4 * k, size) for k, size in ((0, 16), (16, 80), (96, 8), (104, 8), (112, 8), (120, 8),
                                                 (128, 8), (216, 8))]  # label ... samples per record
_TEXT = st.text(alphabet=st.sampled_from(list("0123456789 -.+eE") + ["x", "\u00b5", "\x00", "\xff"]), max_size=12)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(_FIELDS), _TEXT), max_size=4),
       cut=st.one_of(st.just(0), st.just(0), st.just(0), st.integers(1, 70000)))
def test_fuzzed_edf_headers_and_truncations_raise_only_value_error(good_psg, tiny_model_dir, tmp_path, edits, cut):
    """Random header fields and truncations: staging and the builder succeed or raise the documented ValueError."""
    raw = bytearray(good_psg.read_bytes())
    for (offset, size), text in edits:
        raw[offset:offset + size] = text.encode("latin-1")[:size].ljust(size, b" ")
    if cut:
        raw = raw[: max(0, len(raw) - cut)]
    path = tmp_path / "SC4001E0-PSG.edf"
    path.write_bytes(bytes(raw))
    try:
        result = stage_night(path, model=tiny_model_dir, progress=False)
        assert len(result) >= 1 and len(result.stages) == result.probabilities.shape[0]
    except ValueError as error:
        assert str(error).split(":")[0] in {"data", "channel", "channel_names"}
    hyp = tmp_path / "SC4001EC-Hypnogram.edf"
    if not hyp.exists():
        hypnogram(hyp, [(0, 90, "Sleep stage 2")])
    try:
        read_night(path, hyp)
    except ValueError as error:
        assert str(error).split(":")[0] in {"psg_path", "hypnogram_path", "channels", "epoch_sec"}
