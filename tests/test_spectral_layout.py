"""The spectral layout: frequency visible, fixed scales stored in the config, EOG/EMG bands; the trace layout kept
byte for byte for every processor saved without a layout."""

import hashlib
import json

import numpy as np
import pytest

from eeg_vlm import EEGVLMImageProcessor
from eeg_vlm.rendering_eeg_vlm import EMG_FILL, EOG_TRACE, TRACE

FS = 100


def _sine(freq, amplitude_uv=30.0, seconds=90, fs=FS):
    return amplitude_uv * np.sin(2 * np.pi * freq * np.arange(int(seconds * fs)) / fs)


def _has(region, colour):
    return np.all(region == np.array(colour, np.uint8), axis=-1)


def _cycles_in_first_row(proc, image):
    """Upward crossings of the band's middle by the top of the ink, across the first EEG row."""
    band = proc.eeg_height // proc.n_rows
    ink = _has(image[:band], TRACE)  # (band, W)
    top = np.where(ink.any(axis=0), ink.argmax(axis=0), band // 2)
    above = top < band // 2  # the trace's upper edge is above the middle: the positive half of a cycle
    return int(np.sum(above[1:] & ~above[:-1]))


def test_new_processors_default_to_spectral_with_every_scale_in_the_config():
    proc = EEGVLMImageProcessor()
    config = proc.to_dict()
    assert config["layout"] == "spectral"
    for key in ("uv_per_pixel", "row_seconds", "eog_uv_per_pixel", "emg_uv_range", "spectrogram_hz",
                "spectrogram_db", "spectrogram_window_seconds", "eog_height", "emg_height", "spectrogram_height"):
        assert config[key] is not None, key
    assert config["spectrogram_hz"] == [0.5, 30.0]
    assert proc.side / proc.row_seconds / 12 >= 3  # >= 3 px per cycle at 12 Hz
    image = proc.render(_sine(10.0), FS)
    assert image.shape == (1, 224, 224, 3) and image.dtype == np.uint8


def test_spectral_config_round_trips_through_save_and_load(tmp_path):
    proc = EEGVLMImageProcessor(layout="spectral", uv_per_pixel=4.0, row_seconds=5.0, spectrogram_db=[-10, 30],
                                emg_height=10)
    proc.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["layout"] == "spectral" and saved["row_seconds"] == 5.0 and saved["spectrogram_db"] == [-10, 30]
    loaded = EEGVLMImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == proc.to_dict()
    x = _sine(7.0) + _sine(1.0, 60)
    assert np.array_equal(loaded.render(x, FS), proc.render(x, FS))


def test_config_without_layout_loads_as_the_trace_layout_byte_for_byte(tmp_path):
    old = EEGVLMImageProcessor(layout="trace")
    old.save_pretrained(tmp_path)
    path = tmp_path / "preprocessor_config.json"
    config = json.loads(path.read_text())
    del config["layout"]  # as saved before the spectral layout existed
    path.write_text(json.dumps(config))
    loaded = EEGVLMImageProcessor.from_pretrained(tmp_path)
    assert loaded.layout == "trace" and EEGVLMImageProcessor.from_dict({}).layout == "trace"
    assert EEGVLMImageProcessor(seconds_per_pixel=0.25).layout == "trace"  # an old config's keys, no layout
    x = (np.random.default_rng(7).standard_normal((3, 1, 9000)).cumsum(-1) * 3).astype(np.float32)
    x -= x.mean(-1, keepdims=True)
    # sha256 of the same images from the renderer before the spectral layout existed (commit 5dbe08c)
    assert hashlib.sha256(loaded.render(x, FS).tobytes()).hexdigest() == \
        "dd191df6f1d525d4ac36db2f4c913322acd2010de1629c4b06555fe4cef6c143"
    small = EEGVLMImageProcessor(size=64, seconds_per_pixel=0.75, uv_per_pixel=4.0)
    assert hashlib.sha256(small.render(x, FS).tobytes()).hexdigest() == \
        "49a2cf90143670c4e8d6e0075338ecefa648bdee83b6103f5bb2d43ac8a16d8b"


def test_embedded_default_model_renders_as_it_was_trained():
    """The embedded model was trained on the rendering ablation's best arm (spectral, 160 px, 3.75-s rows); its
    processor renders exactly that, and a saved trace-layout processor still renders as the trace."""
    from eeg_vlm import EEGVLMProcessor
    from eeg_vlm.staging import default_model_path

    ip = EEGVLMProcessor.from_pretrained(str(default_model_path())).image_processor
    assert (ip.layout, ip.size, ip.row_seconds) == ("spectral", {"height": 160, "width": 160}, 3.75)
    trace = EEGVLMImageProcessor.from_dict({"layout": "trace", "size": 224})  # what the first models saved
    assert trace.layout == "trace" and trace.seconds_per_pixel == 0.25


def test_10_hz_and_6_hz_are_distinguishable_in_the_rows_and_the_strip():
    proc = EEGVLMImageProcessor()
    ten, six = proc.render(np.stack([_sine(10.0), _sine(6.0)])[:, None], FS)
    # rows: every cycle of a 6-s row is drawn (60 at 10 Hz, 36 at 6 Hz), not a filled envelope
    assert abs(_cycles_in_first_row(proc, ten) - 60) <= 3
    assert abs(_cycles_in_first_row(proc, six) - 36) <= 3
    # strip: the brightest row is the one of the sine's frequency (log-spaced rows, high frequencies on top)
    h = proc.spectrogram_height
    low, high = np.log(proc.spectrogram_hz)
    for image, freq in ((ten, 10.0), (six, 6.0)):
        strip = image[-h:, proc.side // 2].astype(int).sum(axis=-1)  # brightness down the middle column
        expected = (high - np.log(freq)) / (high - low) * h
        assert abs(int(strip.argmax()) - expected) <= 2, (freq, strip.argmax(), expected)


def test_amplitude_scale_is_fixed_in_the_rows():
    proc = EEGVLMImageProcessor(uv_per_pixel=5.0)
    image = proc.render(_sine(1.0, amplitude_uv=50.0), FS)[0]
    band = proc.eeg_height // proc.n_rows
    rows = np.nonzero(_has(image[:band], TRACE).any(axis=1))[0]
    assert abs((rows.max() - rows.min()) - 100 / 5.0) <= 2  # 100 uV peak to peak at 5 uV/px


def test_eog_and_emg_bands_are_drawn_only_when_given():
    proc = EEGVLMImageProcessor()
    eeg = _sine(10.0)
    eog_rows = slice(proc.eeg_height, proc.eeg_height + proc.eog_height)
    emg_rows = slice(proc.eeg_height + proc.eog_height, proc.eeg_height + proc.eog_height + proc.emg_height)
    bare = proc.render(eeg, FS)[0]
    assert not _has(bare[eog_rows], EOG_TRACE).any() and not _has(bare[emg_rows], EMG_FILL).any()
    eog = _sine(0.5, 80.0, seconds=30)
    weak, strong = proc.render(np.stack([eeg, eeg])[:, None], FS, eog=np.stack([eog, eog]),
                               emg=np.array([[1.0] * 30, [10.0] * 30]), emg_sampling_rate=1)  # 1-Hz envelope
    assert _has(weak[eog_rows], EOG_TRACE).any()
    height = [_has(im[emg_rows], EMG_FILL).any(axis=1).sum() for im in (weak, strong)]
    assert 0 < height[0] < height[1]  # higher chin tone, taller bar
    raw = np.random.default_rng(0).standard_normal(3000) * 10.0  # a raw EMG at 100 Hz: its RMS per column
    assert _has(proc.render(eeg, FS, emg=raw)[0][emg_rows], EMG_FILL).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(layout="spectrogram"), "layout: received 'spectrogram'"),
        (dict(layout="spectral", seconds_per_pixel=0.25), "seconds_per_pixel: received 0.25 with layout='spectral'"),
        (dict(layout="trace", row_seconds=6.0), "row_seconds: received 6.0 with layout='trace'"),
        (dict(spectrogram_db=[30, -10]), "spectrogram_db: received"),
        (dict(size=64, spectrogram_height=40), "leaves 14 px for 5 EEG rows"),
    ],
)
def test_bad_layout_options_raise_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EEGVLMImageProcessor(**kwargs)


def test_bad_eog_emg_raise_value_error():
    with pytest.raises(ValueError, match=r"eog: received shape \(1000,\), expected \(1, 3000\)"):
        EEGVLMImageProcessor().render(_sine(10.0), FS, eog=np.zeros(1000))
    with pytest.raises(ValueError, match="layout='trace' draws only the EEG"):
        EEGVLMImageProcessor(layout="trace").render(_sine(10.0), FS, emg=np.zeros(30), emg_sampling_rate=1)
