"""Main-job promises: stage_night accepts a path, an MNE Raw and an array; NightResult exports; the CLI writes the
four files, refuses silent overwrites, keeps going after a failed night, and shows examples in its help."""

import json
import subprocess
import sys

import numpy as np
import pyedflib
import pytest

import eeg_vlm
from eeg_vlm import NightResult, sample_night_path, stage_night


@pytest.fixture(scope="module")
def sample_signal():
    with pyedflib.EdfReader(str(sample_night_path())) as f:
        i = f.getSignalLabels().index("EEG Fpz-Cz")
        return f.readSignal(i)[: 100 * 30 * 40], f.getSampleFrequency(i)  # 40 epochs, uV


def test_sample_night_is_a_sleep_edfx_format_night():
    path = sample_night_path()
    with pyedflib.EdfReader(str(path)) as f:
        assert {"EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental"} <= set(f.getSignalLabels())
    assert list(path.parent.glob("*-Hypnogram.edf"))


def test_stage_night_from_path(tiny_model_dir):
    result = stage_night(sample_night_path(), model=tiny_model_dir, progress=False)
    assert isinstance(result, NightResult)
    assert len(result) == len(result.stages) == result.probabilities.shape[0]
    assert result.probabilities.shape[1] == 5
    np.testing.assert_allclose(result.probabilities.sum(1), 1.0, rtol=1e-5)
    assert set(result.stages) <= {"W", "N1", "N2", "N3", "REM"}
    assert result.channel == "EEG Fpz-Cz" and result.start_datetime is not None
    assert np.array_equal(result.epoch_onsets, np.arange(len(result)) * 30.0)


def test_stage_night_from_array_and_mne_raw_agree(tiny_model_dir, sample_signal):
    import mne

    x, fs = sample_signal
    before = x.copy()
    from_array = stage_night(x, sampling_rate=fs, model=tiny_model_dir, progress=False)
    raw = mne.io.RawArray(x[None] * 1e-6, mne.create_info(["Fpz-Cz"], fs, "eeg"), verbose=False)
    from_raw = stage_night(raw, model=tiny_model_dir, progress=False)
    assert len(from_array) == 40
    assert from_array.stages == from_raw.stages
    np.testing.assert_allclose(from_array.probabilities, from_raw.probabilities, atol=1e-4)
    assert np.array_equal(x, before), "the input array is never modified"


def test_stage_night_resamples_any_rate(tiny_model_dir, sample_signal):
    from scipy.signal import resample_poly

    x, _ = sample_signal
    for rate in (128, 256):
        y = resample_poly(x, rate, 100)
        assert len(stage_night(y, sampling_rate=rate, model=tiny_model_dir, progress=False)) == 40


def test_multi_row_array_needs_channel_names_and_picks_by_name(tiny_model_dir, sample_signal):
    x, fs = sample_signal
    data = np.stack([np.zeros_like(x), x])
    result = stage_night(data, sampling_rate=fs, channel_names=["EMG chin", "EEG C4-M1"], model=tiny_model_dir,
                         progress=False)
    assert result.channel == "EEG C4-M1"


def test_explain_generates_only_where_asked(tiny_model_dir, sample_signal):
    x, fs = sample_signal
    result = stage_night(x, sampling_rate=fs, model=tiny_model_dir, explain=[2, 5], progress=False)
    assert [i for i, r in enumerate(result.reasoning) if r is not None] == [2, 5]
    with pytest.raises(ValueError, match="explain: received epoch indices"):
        stage_night(x, sampling_rate=fs, model=tiny_model_dir, explain=[99], progress=False)


def test_night_result_exports(tiny_model_dir, sample_signal, tmp_path):
    import mne

    x, fs = sample_signal
    result = stage_night(x, sampling_rate=fs, model=tiny_model_dir, progress=False)
    df = result.to_dataframe()
    assert list(df.columns[:4]) == ["epoch", "onset_s", "stage", "confidence"] and len(df) == 40
    result.to_csv(tmp_path / "h.csv")
    result.to_edf(tmp_path / "h.edf")
    annotations = mne.read_annotations(tmp_path / "h.edf")
    assert abs(annotations.duration.sum() - 40 * 30) < 1e-6
    assert all(d.startswith("Sleep stage ") for d in annotations.description)
    summary = result.summary()
    for key in ("TIB", "TST", "SOL", "WASO", "SE", "Lat_REM"):
        assert key in summary
    assert result.plot() is not None


def test_cli_stage_writes_the_four_files(tiny_model_dir, tmp_path):
    cmd = [sys.executable, "-m", "eeg_vlm.cli", "stage", "--sample", "--out", str(tmp_path), "--model",
           str(tiny_model_dir), "-q"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stem = sample_night_path().name[:-4]
    for suffix in ("hypnogram.csv", "hypnogram.edf", "hypnogram.png", "summary.json"):
        assert (tmp_path / f"{stem}.{suffix}").stat().st_size > 0
    assert "TST" in result.stdout
    assert json.loads((tmp_path / f"{stem}.summary.json").read_text())["n_epochs"] > 0
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_cli_one_failed_night_does_not_stop_the_rest(tiny_model_dir, tmp_path):
    bad = tmp_path / "broken.edf"
    bad.write_text("not an EDF file")
    cmd = [sys.executable, "-m", "eeg_vlm.cli", "stage", str(bad), str(sample_night_path()), "--out",
           str(tmp_path / "out"), "--model", str(tiny_model_dir), "-q"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "broken.edf" in result.stderr
    assert (tmp_path / "out" / f"{sample_night_path().name[:-4]}.hypnogram.csv").exists()


def test_cli_explain_prints_reasoning_for_one_epoch(tiny_model_dir):
    cmd = [sys.executable, "-m", "eeg_vlm.cli", "explain", str(sample_night_path()), "--epoch", "3", "--model",
           str(tiny_model_dir), "-q"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("epoch 3 (90 s): stage head")


@pytest.mark.parametrize("args", [["--help"], ["stage", "--help"], ["explain", "--help"]])
def test_cli_help_shows_an_example(args):
    out = subprocess.run([sys.executable, "-m", "eeg_vlm.cli", *args], capture_output=True, text=True).stdout
    assert "example" in out and "eeg-vlm " in out


def test_public_api_is_exported():
    for name in ("stage_night", "NightResult", "default_model_path", "sample_night_path", "explain_epoch"):
        assert hasattr(eeg_vlm, name)


def test_load_staging_model_night_inputs_gives_a_copy_and_refuses_bad_values(tiny_model_dir):
    from eeg_vlm.staging import load_staging_model

    saved = load_staging_model(str(tiny_model_dir))
    before = saved[0].config.night_inputs
    copy_ = load_staging_model(str(tiny_model_dir), night_inputs="features")
    assert copy_[0].config.night_inputs == "features" and copy_[0] is not saved[0] and copy_[1] is saved[1]
    assert load_staging_model(str(tiny_model_dir))[0].config.night_inputs == before  # the cached model untouched
    assert load_staging_model(saved, night_inputs="image")[0].config.night_inputs == "image"
    assert saved[0].config.night_inputs == before  # a given model untouched
    with pytest.raises(ValueError, match="night_inputs: received 'eeg'"):
        load_staging_model(str(tiny_model_dir), night_inputs="eeg")
