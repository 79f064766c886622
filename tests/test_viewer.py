"""Human views (eeg_vlm.io.viewer) and the comparison with a scorer (eeg_vlm.reference).

    python -m pytest tests/test_viewer.py -q
"""

from datetime import datetime

import numpy as np
import pytest

import eeg_vlm
from eeg_vlm.io.viewer import LOW_CONFIDENCE, epoch_signals, night_spectrogram, plot_epoch, plot_night
from eeg_vlm.reference import compare_with_reference, read_reference

START = datetime(1990, 11, 20, 21, 12)


def tick_labels(ax):
    """Tick labels of a drawn figure (see :func:`render`)."""
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def render(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_night_view_axis_is_clock_time_on_whole_hours():
    stages = ["W"] * 40 + ["N2"] * 400 + ["REM"] * 40  # 4 h from 21:12
    fig = render(plot_night(stages, start_datetime=START, spectrogram=night_spectrogram(
        np.random.default_rng(0).normal(0, 20, 480 * 3000), 100.0)))
    labels = tick_labels(fig.axes[1])
    assert labels[0] == "21:15" and "00:00" in labels and all(len(t) == 5 and t[2] == ":" for t in labels)
    assert fig.axes[1].get_xlabel() == "Clock time" and fig.axes[1].get_ylabel() == "EEG, Hz"
    no_start = render(plot_night(stages, width_px=900))
    assert tick_labels(no_start.axes[0])[0] == "0:00"  # time from the start without a recording date


def test_night_spectrogram_has_one_column_per_epoch_and_finds_the_rhythm():
    t = np.arange(10 * 3000) / 100.0
    spec = night_spectrogram(40 * np.sin(2 * np.pi * 10 * t), 100.0)
    assert spec.power_db.shape == (10, spec.freqs_hz.size) and spec.freqs_hz[0] >= 0.5 and spec.freqs_hz[-1] <= 25
    assert spec.freqs_hz[spec.power_db[3].argmax()] == pytest.approx(10.0, abs=0.25)
    with pytest.raises(ValueError, match="eeg_uv: received shape"):
        night_spectrogram(np.zeros(100), 100.0)


def test_low_confidence_epochs_are_shaded_and_the_cursor_drawn():
    from matplotlib.patches import Rectangle

    stages = ["N2"] * 20
    confidence = np.full(20, 0.9)
    confidence[[3, 4, 10]] = LOW_CONFIDENCE - 0.1
    fig = plot_night(stages, confidence=confidence, cursor=7)
    spans = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_facecolor()[0] > 0.9]
    orange = sorted((p.get_x(), p.get_width()) for p in spans if abs(p.get_facecolor()[1] - 0.64) < 0.02)
    assert orange == [(90.0, 60.0), (300.0, 30.0)]  # epochs 3-4 and 10, in seconds
    assert any(abs(line.get_xdata()[0] - 225.0) < 1e-9 for line in fig.axes[0].lines)  # the cursor: epoch 7's middle
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["confidence < 60%"]
    with pytest.raises(ValueError, match="cursor: received 20"):
        plot_night(stages, cursor=20)


def test_reference_is_drawn_beside_the_hypnogram_with_a_legend_outside():
    fig = plot_night(["W", "N1", "N2"], reference=["W", None, "N3"], reference_name="scorer", width_px=380)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["EEG-VLM", "scorer"]
    assert legend._loc == 3 and legend.get_bbox_to_anchor()._bbox.y0 >= 1.0  # lower left, anchored above the axes
    with pytest.raises(ValueError, match="reference: received 2 labels, expected 3"):
        plot_night(["W", "N1", "N2"], reference=["W", "N1"])


def test_epoch_page_has_channels_scale_bars_time_axes_and_spectrogram():
    rng = np.random.default_rng(1)
    signals = [("EEG Fpz-Cz", rng.normal(0, 20, 9000), 100.0), ("EOG horizontal", rng.normal(0, 60, 9000), 100.0),
               ("EMG submental", np.abs(rng.normal(2, 0.5, 90)), 1.0)]
    fig = render(plot_epoch(signals, 11, first_epoch=10, stages=["N2"] * 20, start_datetime=START, width_px=1400))
    traces, spectrogram = fig.axes[0], fig.axes[1]
    texts = [t.get_text() for t in traces.texts]
    assert "EEG Fpz-Cz (100 Hz)" in texts and "EOG horizontal (100 Hz)" in texts and "EMG submental (1 Hz)" in texts
    assert "75\nµV" in texts  # the EEG scale bar: the AASM slow-wave amplitude
    assert {"epoch 10: N2", "epoch 11: N2", "epoch 12: N2"} <= set(texts)
    assert traces.get_xlim()[0] == -30 and spectrogram.get_xlabel() == "Seconds from the onset of epoch 11"
    (top,) = [c for c in traces.get_children() if type(c).__name__ == "SecondaryAxis"]
    labels = [t.get_text() for t in top.get_xticklabels()]
    assert "21:17:30" in labels and "21:18:00" in labels  # clock time of the epoch's edges (onset 330 s)
    assert spectrogram.collections and "Hz" in spectrogram.get_ylabel()


def test_epoch_page_at_the_first_epoch_and_on_a_phone():
    signals = [("EEG", np.random.default_rng(2).normal(0, 20, 6000), 100.0)]
    fig = render(plot_epoch(signals, 0, first_epoch=0, width_px=380, context_sec=5))
    assert fig.axes[0].get_xlim()[0] == 0 and fig.get_size_inches()[0] * fig.dpi == pytest.approx(380)
    with pytest.raises(ValueError, match="signals: received no channel"):
        plot_epoch([], 0)


def test_night_result_plot_epoch_reads_the_staged_file(tiny_model_dir):
    path = eeg_vlm.sample_night_path()
    result = eeg_vlm.stage_night(path, model=str(tiny_model_dir), progress=False)
    fig = result.plot_epoch(120, width_px=900)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "EEG Fpz-Cz (100 Hz)" in texts and "EOG horizontal (100 Hz)" in texts and "EMG submental (1 Hz)" in texts
    assert fig._suptitle.get_text() == f"EEG Fpz-Cz, epoch 120: {result.stages[120]}"
    signals, first, n, start = epoch_signals(path, 120, channel="EEG Fpz-Cz")
    assert first == 119 and n == len(result) and start == result.start_datetime and signals[0][1].size == 9000
    array = eeg_vlm.stage_night(np.random.default_rng(0).normal(0, 20, 9000), sampling_rate=100,
                                model=str(tiny_model_dir), progress=False)
    with pytest.raises(ValueError, match="data: this night was staged from 'array'"):
        array.plot_epoch(1)
    with pytest.raises(ValueError, match="epoch: received 480, expected a whole number from 0 to 479"):
        result.plot_epoch(480)


# ------------------------------------------------------------------------------------------------ reference
def test_sleep_edfx_hypnogram_is_read_onto_the_epochs_and_compared():
    path = eeg_vlm.sample_night_path()
    ref = read_reference(path.with_name("SC4991EX-Hypnogram.edf"), n_epochs=480, start_datetime=START)
    assert len(ref.stages) == 480 and ref.n_scored == 478 and ref.not_scored == {"Movement time": 2}
    metrics = compare_with_reference(ref.stages, ref.stages)
    assert metrics["accuracy"] == metrics["cohen_kappa"] == 1.0 and metrics["n"] == 478 and metrics["n_left_out"] == 2
    # a hypnogram starting 60 s (two epochs) after the PSG is shifted onto it
    shifted = read_reference(path.with_name("SC4991EX-Hypnogram.edf"), n_epochs=480,
                             start_datetime=datetime(1990, 11, 20, 21, 11))
    assert shifted.stages[2:] == ref.stages[:-2] and shifted.stages[:2] == [None, None]


def test_csv_reference_by_epoch_onset_or_row_with_common_spellings(tmp_path):
    by_epoch = tmp_path / "a.csv"
    by_epoch.write_text("# scorer: A\nepoch,stage\n0,Wake\n1,S1\n2,N2\n3,S4\n4,R\n5,MT\n")
    ref = read_reference(by_epoch, n_epochs=6)
    assert ref.stages == ["W", "N1", "N2", "N3", "REM", None] and ref.not_scored == {"MT": 1}
    by_onset = tmp_path / "b.csv"
    by_onset.write_text("onset_s,stage\n30,N2\n60,N3\n")
    assert read_reference(by_onset, n_epochs=3).stages == [None, "N2", "N3"]
    rows = tmp_path / "c.csv"
    rows.write_text("Stage\nW\nN1\n")
    assert read_reference(rows, n_epochs=3).stages == ["W", "N1", None]
    metrics = compare_with_reference(["W", "N1", "UNS"], ["W", "N2", "N2"])
    assert metrics["n"] == 2 and metrics["accuracy"] == 0.5 and metrics["confusion_matrix"][2][1] == 1


def test_bad_references_are_refused_with_what_to_upload(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("epoch,stage\n0,?\n")
    with pytest.raises(ValueError, match=r"reference: 'e.csv' scores none of this night's 4 epochs"):
        read_reference(empty, n_epochs=4)
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ValueError, match="reference: 'x.csv' is neither an EDF file nor a readable CSV"):
        read_reference(binary, n_epochs=4)
    with pytest.raises(ValueError, match="reference: no file named 'missing.csv'"):
        read_reference(tmp_path / "missing.csv", n_epochs=4)
    with pytest.raises(ValueError, match="reference: has 2 epochs, expected 3"):
        compare_with_reference(["W", "W", "W"], ["W", "W"])
