"""EEGVLMFeatureExtractor promises: columns, one implementation, rates, absent channels, saving, Auto class, processor."""

import json

import numpy as np
import pytest
from conftest import tiny_config, tiny_processor
from scipy import signal

from eeg_vlm.dataset_builder.features import FEATURE_NAMES as MEASUREMENT_NAMES
from eeg_vlm.dataset_builder.features import measure_epochs
from eeg_vlm.feature_extraction_eeg_vlm import EEGVLMFeatureExtractor
from eeg_vlm.simulation import sleep_edf20

FS = 100
SEDF = ("sedf_delta", "sedf_theta", "sedf_alpha", "sedf_beta", "sedf_gamma", "sedf_theta_alpha", "sedf_alpha_delta",
        "sedf_log_var", "sedf_mobility")


def _night(seconds, fs, seed=0):
    """Band-limited (< 20 Hz) EEG-like signal in uV with slow waves, alpha and spindle-band tones."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    noise = signal.sosfiltfilt(signal.butter(4, 20, fs=fs, output="sos"), rng.standard_normal(len(t))) * 20
    return noise + 40 * np.sin(2 * np.pi * 1 * t) + 10 * np.sin(2 * np.pi * 10 * t) + 5 * np.sin(2 * np.pi * 13.5 * t)


def test_feature_names_order_and_shape():
    extractor = EEGVLMFeatureExtractor()
    assert extractor.feature_names == SEDF + MEASUREMENT_NAMES
    night = _night(4 * 30 + 12, FS)  # 4 epochs and a trailing partial one, which is dropped
    features = extractor(night, sampling_rate=FS)["features"]
    assert features.shape == (4, len(extractor.feature_names)) == (4, 22)
    assert features.dtype == np.float32
    epochs = extractor(night[: 4 * 3000].reshape(4, 3000), sampling_rate=FS)["features"]  # epochs in, same rows
    np.testing.assert_array_equal(epochs, features)
    assert extractor(night, sampling_rate=FS, return_tensors="pt")["features"].shape == (4, 22)


def test_sedf_features_equal_sleep_edf20_channel_features():
    epochs = _night(6 * 30, FS, seed=1).reshape(6, 3000)
    features = EEGVLMFeatureExtractor()(epochs, sampling_rate=FS)["features"]
    np.testing.assert_allclose(features[:, :9], sleep_edf20.channel_features(epochs).astype(np.float32), rtol=1e-6)
    # ... and the measurements are the builder's table (dataset_builder.features), column for column
    table = measure_epochs(epochs, FS)
    np.testing.assert_allclose(features[:, 9:], table[list(MEASUREMENT_NAMES)].to_numpy(np.float32), rtol=1e-6)


def test_200_hz_is_resampled_to_100_hz():
    x200 = _night(4 * 30, 200, seed=2)
    extractor = EEGVLMFeatureExtractor()
    at_200 = extractor(x200, sampling_rate=200)["features"]
    at_100 = extractor(x200[::2], sampling_rate=100)["features"]  # the same signal (band-limited below 20 Hz)
    finite = np.isfinite(at_100)
    np.testing.assert_array_equal(np.isfinite(at_200), finite)
    np.testing.assert_allclose(at_200[finite], at_100[finite], rtol=0.01, atol=0.01)
    # measured at 200 Hz without resampling, Hjorth mobility (per-sample differences) would be about half
    raw = sleep_edf20.channel_features(x200.reshape(4, -1), fs=200)
    assert not np.allclose(raw[:, 8], at_100[:, 8], rtol=0.1)


def test_resampling_matches_io_resample_to():
    from eeg_vlm.io import resample_to as io_resample
    from eeg_vlm.measurements_eeg_vlm import resample_to

    for rate in (50.0, 200.0, 256.0):
        x = _night(65, rate, seed=3)
        np.testing.assert_array_equal(resample_to(x, rate, 100.0), io_resample(x, rate, 100.0))


def test_missing_eog_and_emg_are_nan():
    extractor = EEGVLMFeatureExtractor()
    eeg = _night(3 * 30, FS, seed=4)
    names = extractor.feature_names
    eye, emg = names.index("eye_movement_count"), names.index("emg_rms_uv")
    bare = extractor(eeg, sampling_rate=FS)["features"]
    assert np.isnan(bare[:, [eye, emg]]).all()
    assert np.isfinite(np.delete(bare, [eye, emg], axis=1)).all()
    eog = 60 * np.sign(np.sin(2 * np.pi * 0.3 * np.arange(len(eeg)) / FS))  # eye-movement-like steps
    envelope = np.full(3 * 30, 2.5)  # a 1-Hz chin EMG envelope, 2.5 uV
    both = extractor(eeg, sampling_rate=FS, eog=eog, emg=envelope)["features"]
    assert np.isfinite(both).all() and (both[:, eye] > 0).all()
    np.testing.assert_allclose(both[:, emg], 2.5, rtol=1e-6)


def test_measure_returns_the_builders_rows():
    epochs = _night(3 * 30, FS, seed=5).reshape(3, 3000)
    rows = EEGVLMFeatureExtractor().measure(epochs, FS, emg_epochs=np.full((3, 30), 1.5))
    assert isinstance(rows, list) and [tuple(r) for r in rows] == [MEASUREMENT_NAMES] * 3
    expected = measure_epochs(epochs, FS, emg_epochs=np.full((3, 30), 1.5)).to_dict("records")
    for got, want in zip(rows, expected):
        assert got == pytest.approx(want, nan_ok=True)


def test_bad_inputs_raise_value_error_naming_the_argument():
    extractor = EEGVLMFeatureExtractor()
    x = _night(60, FS)
    for kwargs, name in [({"sampling_rate": None}, "sampling_rate"), ({"sampling_rate": 40}, "sampling_rate")]:
        with pytest.raises(ValueError, match=name):
            extractor(x, **kwargs)
    with pytest.raises(ValueError, match="eeg"):
        extractor(x.reshape(1, 2, 3000), sampling_rate=FS)
    with pytest.raises(ValueError, match="eeg"):
        extractor(x.reshape(3, 2000), sampling_rate=FS)  # 20-s rows
    with pytest.raises(ValueError, match="eeg"):
        extractor(np.r_[x[:-1], np.nan], sampling_rate=FS)
    with pytest.raises(ValueError, match="eog"):
        extractor(x, sampling_rate=FS, eog=np.zeros((3, 3000)))
    for epoch_seconds in (0, 20.0):
        with pytest.raises(ValueError, match="epoch_seconds"):
            EEGVLMFeatureExtractor(epoch_seconds=epoch_seconds)
    before = x.copy()
    extractor(x, sampling_rate=FS, eog=x, emg=x)
    np.testing.assert_array_equal(x, before)  # nothing the user gave is mutated


def test_save_load_round_trip(tmp_path):
    extractor = EEGVLMFeatureExtractor(epoch_seconds=60.0)
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["epoch_seconds"] == 60.0 and saved["feature_extractor_type"] == "EEGVLMFeatureExtractor"
    loaded = EEGVLMFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == extractor.to_dict() and loaded.epoch_seconds == 60.0
    x = _night(180, FS)
    np.testing.assert_array_equal(loaded(x, sampling_rate=FS)["features"], extractor(x, sampling_rate=FS)["features"])


def test_auto_feature_extractor_loads_it(tmp_path, tiny_tokenizer):
    from transformers import AutoFeatureExtractor

    EEGVLMFeatureExtractor().save_pretrained(tmp_path / "alone")
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path / "alone")) is EEGVLMFeatureExtractor
    config = tiny_config(tiny_tokenizer)
    config.save_pretrained(tmp_path / "model")
    tiny_processor(tiny_tokenizer, config).save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "feature_extraction_eeg_vlm.py").exists()
    assert (tmp_path / "model" / "measurements_eeg_vlm.py").exists()
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path / "model")) is EEGVLMFeatureExtractor


def test_processor_return_features(tiny_tokenizer):
    proc = tiny_processor(tiny_tokenizer, tiny_config(tiny_tokenizer))
    windows = np.stack([_night(90, FS, seed=s) for s in (6, 7)])[:, None]  # (2, 1, 9000): epochs with neighbours
    out = proc(eeg=windows, sampling_rate=FS, text=["<image>a", "<image>b"], return_features=True, return_tensors="pt")
    assert tuple(out["features"].shape) == (2, 22) and out["pixel_values"].shape[0] == 2
    centre = windows[:, 0, 3000:6000]  # the scored epochs; the neighbours are context only
    np.testing.assert_array_equal(out["features"].numpy(), proc.feature_extractor(centre, FS)["features"])
    assert "features" not in proc(eeg=windows, sampling_rate=FS, text=["<image>a", "<image>b"])
    one = proc(eeg=centre[0], sampling_rate=FS, text="<image>a", return_features=True)  # one bare epoch
    np.testing.assert_array_equal(one["features"], out["features"].numpy()[:1])
    with pytest.raises(ValueError, match="return_features"):
        proc(images=[np.zeros((32, 32, 3), np.uint8)], text="<image>a", return_features=True)


def test_processor_round_trip_keeps_the_feature_extractor(tiny_tokenizer, tmp_path):
    from eeg_vlm import EEGVLMProcessor

    proc = tiny_processor(tiny_tokenizer, tiny_config(tiny_tokenizer))
    proc.feature_extractor = EEGVLMFeatureExtractor(epoch_seconds=proc.image_processor.epoch_seconds)
    proc.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["feature_extractor"]["auto_map"]["AutoFeatureExtractor"] == (
        "feature_extraction_eeg_vlm.EEGVLMFeatureExtractor")
    loaded = EEGVLMProcessor.from_pretrained(tmp_path)
    assert loaded.feature_extractor.to_dict() == proc.feature_extractor.to_dict()
    # a processor saved before the feature extractor existed loads with the default one
    del config["feature_extractor"]
    (tmp_path / "processor_config.json").write_text(json.dumps(config))
    old = EEGVLMProcessor.from_pretrained(tmp_path)
    assert isinstance(old.feature_extractor, EEGVLMFeatureExtractor) and old.feature_extractor.sampling_rate == 100


def test_old_reasoning_import_paths_are_the_moved_modules():
    import importlib

    for old, new in [("eeg_vlm.dataset_builder.cot", "cot"), ("eeg_vlm.grounding", "grounding"),
                     ("eeg_vlm.faithfulness", "faithfulness"), ("eeg_vlm.explanation", "explanation")]:
        assert importlib.import_module(old) is importlib.import_module(f"eeg_vlm.reasoning.{new}"), old
    from eeg_vlm.dataset_builder.cot import make_cot
    from eeg_vlm.reasoning.cot import make_cot as moved

    assert make_cot is moved


def test_features_a_low_recorded_rate_cannot_carry_are_nan():
    """EEG recorded at 50 Hz and brought to 100 Hz has nothing above 25 Hz: with ``recorded_rate`` its beta, gamma,
    mobility and beta_rel are NaN ("not measured"), every other column unchanged; at >= 100 Hz nothing changes."""
    from eeg_vlm.measurements_eeg_vlm import unmeasurable_features

    extractor = EEGVLMFeatureExtractor()
    x = _night(4 * 30, FS, seed=3)
    plain = extractor(x, sampling_rate=FS)["features"]
    low = extractor(x, sampling_rate=FS, recorded_rate=50)["features"]
    assert unmeasurable_features(50) == ("sedf_beta", "sedf_gamma", "sedf_mobility", "beta_rel")
    assert unmeasurable_features(64) == ("sedf_gamma", "sedf_mobility")
    assert unmeasurable_features(100) == unmeasurable_features(256) == ()
    gone = [extractor.feature_names.index(n) for n in unmeasurable_features(50)]
    assert np.isnan(low[:, gone]).all()
    kept = [i for i in range(low.shape[1]) if i not in gone]
    np.testing.assert_array_equal(low[:, kept], plain[:, kept])
    np.testing.assert_array_equal(extractor(x, sampling_rate=FS, recorded_rate=200)["features"], plain)
    for bad in ("fifty", 0, -50.0):
        with pytest.raises(ValueError, match="recorded_rate"):
            extractor(x, sampling_rate=FS, recorded_rate=bad)
