"""Renderer promises: fixed physical scale, determinism, context, validation, save/load, AutoImageProcessor."""

import numpy as np
import pytest
from PIL import Image

from eeg_vlm import EEGVLMImageProcessor, epochs_with_context
from eeg_vlm.image_processing_eeg_vlm import TRACE

FS = 100


def _sine(amplitude_uv, freq=1.0, seconds=30, fs=FS):
    return amplitude_uv * np.sin(2 * np.pi * freq * np.arange(int(seconds * fs)) / fs)


def _ink_rows(image, color=TRACE):
    hit = np.all(image == np.array(color, np.uint8), axis=-1)
    rows = np.nonzero(hit.any(axis=1))[0]
    return rows.min(), rows.max()


def test_renderer_is_deterministic():
    proc = EEGVLMImageProcessor()
    x = np.random.default_rng(0).standard_normal(3000) * 40
    assert np.array_equal(proc.render(x, FS), proc.render(x.copy(), FS))


def test_100_uv_sine_spans_the_expected_pixel_height():
    proc = EEGVLMImageProcessor(layout="trace", uv_per_pixel=2.0)
    top, bottom = _ink_rows(proc.render(_sine(100.0), FS)[0])
    assert abs((bottom - top) - 200 / 2.0) <= 2  # 200 uV peak-to-peak at 2 uV/px = 100 px


def test_scale_is_independent_of_sampling_rate():
    proc = EEGVLMImageProcessor(layout="trace")
    spans = []
    for fs in (100, 128, 256):
        top, bottom = _ink_rows(proc.render(_sine(60.0, fs=fs), fs)[0])
        spans.append(bottom - top)
    assert max(spans) - min(spans) <= 2


def test_scored_epoch_is_black_and_context_dimmed():
    proc = EEGVLMImageProcessor(layout="trace", context_epochs=1)
    night = np.tile(_sine(50.0), 3)  # three epochs
    image = proc.render(epochs_with_context(night, FS, 1)[1], FS)[0]
    left, width = proc.epoch_left, proc.epoch_width
    black = np.all(image == np.array(TRACE, np.uint8), axis=-1)
    assert black[:, left + 2 : left + width - 2].any()
    assert not black[:, : left - 1].any() and not black[:, left + width + 1 :].any()
    assert (image[:, : left - 1] < 200).all(axis=-1).any()  # the dimmed neighbour is drawn


def test_each_channel_in_its_own_band():
    proc = EEGVLMImageProcessor(layout="trace", size=224)
    x = np.stack([_sine(20.0), np.zeros(3000)])
    image = proc.render(x, FS)[0]
    top, bottom = _ink_rows(image)
    assert bottom < 112 + 112 // 2 + 2  # channel 0 in the upper band, channel 1 a flat line lower
    assert top >= 112 // 2 - 12


def test_pixel_values_are_normalised_batch():
    proc = EEGVLMImageProcessor()
    batch = np.stack([_sine(30.0), _sine(80.0)])[:, None]  # (2, 1, 3000)
    out = proc(eeg=batch, sampling_rate=FS)
    assert out["pixel_values"].shape == (2, 3, 224, 224)
    assert out["pixel_values"].dtype == np.float32
    assert out["pixel_values"].min() < -1.0 < 1.0 < out["pixel_values"].max()


def test_accepts_already_rendered_images():
    proc = EEGVLMImageProcessor(size=64, seconds_per_pixel=0.75)
    rendered = proc.render(_sine(30.0), FS)[0]
    from_array = proc(images=rendered)["pixel_values"]
    from_pil = proc(images=Image.fromarray(rendered))["pixel_values"]
    from_eeg = proc(eeg=_sine(30.0), sampling_rate=FS)["pixel_values"]
    assert np.array_equal(from_array, from_eeg) and np.array_equal(from_pil, from_eeg)
    resized = proc(images=Image.new("RGB", (100, 80)))["pixel_values"]
    assert resized.shape == (1, 3, 64, 64)


def test_input_is_not_mutated():
    proc = EEGVLMImageProcessor()
    x = _sine(30.0)
    before = x.copy()
    proc(eeg=x, sampling_rate=FS)
    assert np.array_equal(x, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(eeg=np.zeros((1, 1, 1, 3000)), sampling_rate=FS), "eeg: received an array with 4 dimensions"),
        (dict(eeg=np.full(3000, np.nan), sampling_rate=FS), "eeg: received NaN"),
        (dict(eeg=np.zeros(3000), sampling_rate=40), "sampling_rate: received 40 Hz"),
        (dict(eeg=np.zeros(1000), sampling_rate=FS), "eeg: received 1000 samples"),
        (dict(eeg=np.zeros(3000), sampling_rate=None), "sampling_rate: received None"),
        (dict(eeg=np.zeros(4000), sampling_rate=FS), "expected 3000 .* or 9000"),
        (dict(eeg=np.zeros((2, 3000)), sampling_rate=FS, channel_names=["Fpz-Cz"]), "channel_names"),
    ],
)
def test_bad_eeg_raises_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EEGVLMImageProcessor()(**kwargs)


def test_epochs_with_context_shapes_and_zero_padding():
    x = np.arange(3 * 3000, dtype=np.float32)
    cut = epochs_with_context(x, FS, 1)
    assert cut.shape == (3, 1, 9000)
    assert np.array_equal(cut[1, 0], x)
    assert np.all(cut[0, 0, :3000] == 0) and np.array_equal(cut[0, 0, 3000:], x[:6000])


def test_save_load_round_trip_and_auto_image_processor(tmp_path):
    from transformers import AutoImageProcessor

    import eeg_vlm  # noqa: F401

    proc = EEGVLMImageProcessor(size=112, seconds_per_pixel=0.5, uv_per_pixel=4.0, context_epochs=1)
    proc.save_pretrained(tmp_path)
    loaded = EEGVLMImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == proc.to_dict()
    auto = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(auto, EEGVLMImageProcessor)
    x = _sine(70.0)
    assert np.array_equal(auto.render(x, FS), proc.render(x, FS))
