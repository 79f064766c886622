"""Tests of eeg_vlm.io exports: CSV, EDF+ hypnogram, PNG, JSON, sleep statistics, plot.

Run: cd /work/main && python -m pytest tests/test_io_export.py -q
"""

from __future__ import annotations

import csv
import json
import math
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from eeg_vlm.io import (
    EDF_STAGE_LABELS,
    STAGES,
    plot_hypnogram,
    sleep_statistics,
    write_csv,
    write_hypnogram_edf,
    write_hypnogram_png,
    write_summary_json,
)

START = datetime(2021, 3, 4, 22, 15, 30)
NIGHT = ["W", "W", "N1", "N2", "N2", "N2", "N3", "N3", "N2", "REM", "REM", "W", "N2", "UNS", "REM", "W"]


def probabilities_for(stages, *, seed: int = 7) -> np.ndarray:
    """Deterministic softmax-like probabilities whose argmax is the given stage."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.3, size=(len(stages), 5))
    for i, s in enumerate(stages):
        if s in STAGES:
            p[i, STAGES.index(s)] += 1.0
    return p / p.sum(axis=1, keepdims=True)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


# --------------------------------------------------------------------------- CSV
def test_csv_has_epoch_onset_clock_stage_confidence_and_probabilities(tmp_path):
    p = probabilities_for(NIGHT)
    write_csv(tmp_path / "h.csv", stages=NIGHT, probabilities=p, start_datetime=START)
    rows = read_csv(tmp_path / "h.csv")
    assert list(rows[0]) == ["epoch", "onset_s", "clock_time", "stage", "confidence",
                             "p_W", "p_N1", "p_N2", "p_N3", "p_REM"]
    assert [r["stage"] for r in rows] == NIGHT
    assert rows[3]["epoch"] == "3" and float(rows[3]["onset_s"]) == 90.0
    assert rows[3]["clock_time"] == "2021-03-04T22:17:00"
    np.testing.assert_allclose([[float(r[f"p_{s}"]) for s in STAGES] for r in rows], p, atol=5e-5)
    np.testing.assert_allclose([float(r["confidence"]) for r in rows], p.max(axis=1), atol=5e-5)


def test_csv_without_start_or_probabilities_has_only_known_columns(tmp_path):
    write_csv(tmp_path / "h.csv", stages=NIGHT, epoch_sec=20)
    rows = read_csv(tmp_path / "h.csv")
    assert list(rows[0]) == ["epoch", "onset_s", "stage"]
    assert [float(r["onset_s"]) for r in rows[:3]] == [0.0, 20.0, 40.0]


def test_csv_explicit_confidence_and_nan_rows_written_as_empty_cells(tmp_path):
    p = probabilities_for(NIGHT)
    p[13] = np.nan  # the UNS epoch has no probabilities
    confidence = np.linspace(0.2, 0.9, len(NIGHT))
    write_csv(tmp_path / "h.csv", stages=NIGHT, probabilities=p, confidence=confidence)
    rows = read_csv(tmp_path / "h.csv")
    assert rows[13]["p_W"] == "" and rows[13]["stage"] == "UNS"
    np.testing.assert_allclose([float(r["confidence"]) for r in rows], confidence, atol=5e-5)


def test_csv_refuses_unknown_stage_bad_probabilities_and_bad_confidence(tmp_path):
    with pytest.raises(ValueError, match=r"stages: unknown stage label\(s\) \['R'\].*'R' -> 'REM'"):
        write_csv(tmp_path / "h.csv", stages=["W", "R"])
    with pytest.raises(ValueError, match=r"probabilities: expected shape \(2, 5\)"):
        write_csv(tmp_path / "h.csv", stages=["W", "N1"], probabilities=np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match=r"probabilities: each row must sum to 1, row 1"):
        write_csv(tmp_path / "h.csv", stages=["W", "N1"], probabilities=[[1, 0, 0, 0, 0], [0.5] * 5])
    with pytest.raises(ValueError, match=r"confidence: expected 2 values in \[0, 1\].*1\.5"):
        write_csv(tmp_path / "h.csv", stages=["W", "N1"], confidence=[0.5, 1.5])
    assert not (tmp_path / "h.csv").exists() and leftovers(tmp_path) == []


def test_inputs_are_not_mutated(tmp_path):
    stages, p = list(NIGHT), probabilities_for(NIGHT)
    p_before = p.copy()
    write_csv(tmp_path / "h.csv", stages=stages, probabilities=p, start_datetime=START)
    plot_hypnogram(stages, p)
    assert stages == NIGHT
    np.testing.assert_array_equal(p, p_before)


# --------------------------------------------------------------------------- writers: safety
@pytest.mark.parametrize("writer,name", [
    (lambda path, **kw: write_csv(path, stages=NIGHT, **kw), "h.csv"),
    (lambda path, **kw: write_hypnogram_edf(path, stages=NIGHT, **kw), "h.edf"),
    (lambda path, **kw: write_hypnogram_png(path, stages=NIGHT, **kw), "h.png"),
    (lambda path, **kw: write_summary_json(path, sleep_statistics(NIGHT), **kw), "s.json"),
])
def test_writers_refuse_to_overwrite_unless_asked(tmp_path, writer, name):
    target = tmp_path / name
    target.write_bytes(b"precious")
    with pytest.raises(ValueError, match=r"already exists.*overwrite=True.*--overwrite"):
        writer(target)
    assert target.read_bytes() == b"precious"
    writer(target, overwrite=True)
    assert target.read_bytes() != b"precious" and target.stat().st_size > 0
    assert leftovers(tmp_path) == []


def test_writer_failure_leaves_existing_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "h.edf"
    target.write_bytes(b"precious")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pyedflib.EdfWriter, "writeAnnotation", broken)
    with pytest.raises(OSError, match="disk full"):
        write_hypnogram_edf(target, stages=NIGHT, overwrite=True)
    assert target.read_bytes() == b"precious" and leftovers(tmp_path) == []


def test_written_file_has_usual_permissions(tmp_path):
    write_csv(tmp_path / "h.csv", stages=NIGHT)
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "h.csv").stat().st_mode & 0o777 == 0o666 & ~mask


def test_missing_output_directory_refused(tmp_path):
    with pytest.raises(ValueError, match=r"path: the output directory .*missing.* does not exist"):
        write_csv(tmp_path / "missing" / "h.csv", stages=NIGHT)


def test_output_parent_that_is_a_file_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"path: .* is not a directory"):
        write_hypnogram_edf(tmp_path / "file" / "h.edf", stages=NIGHT)


def test_unwritable_output_directory_refused(tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits: use a directory the kernel refuses to create files in.
        directory = Path("/proc")
    else:
        directory = tmp_path / "ro"
        directory.mkdir()
        directory.chmod(0o500)
    try:
        with pytest.raises(ValueError, match=r"path: .*(not writable|cannot create a file).*--out"):
            write_csv(directory / "h.csv", stages=NIGHT)
    finally:
        if directory != Path("/proc"):
            directory.chmod(0o700)


# --------------------------------------------------------------------------- EDF+ hypnogram
def test_edf_hypnogram_merges_runs_with_sleep_edfx_labels_read_by_pyedflib(tmp_path):
    path = tmp_path / "h.edf"
    write_hypnogram_edf(path, stages=NIGHT, start_datetime=START)
    reader = pyedflib.EdfReader(str(path))
    try:
        onsets, durations, labels = reader.readAnnotations()
        assert reader.signals_in_file == 0 and reader.filetype == pyedflib.FILETYPE_EDFPLUS
        assert reader.getStartdatetime() == START
    finally:
        reader.close()
    assert list(labels) == ["Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3",
                            "Sleep stage 2", "Sleep stage R", "Sleep stage W", "Sleep stage 2",
                            "Sleep stage ?", "Sleep stage R", "Sleep stage W"]
    assert list(onsets) == [0, 60, 90, 180, 240, 270, 330, 360, 390, 420, 450]
    assert list(durations) == [60, 30, 90, 60, 30, 60, 30, 30, 30, 30, 30]


def test_edf_hypnogram_read_back_by_mne(tmp_path):
    mne = pytest.importorskip("mne")
    path = tmp_path / "h.edf"
    write_hypnogram_edf(path, stages=NIGHT, start_datetime=START)
    annotations = mne.read_annotations(path)
    inverse = {label: stage for stage, label in EDF_STAGE_LABELS.items()}
    rebuilt = []
    for onset, duration, label in zip(annotations.onset, annotations.duration, annotations.description):
        assert onset == len(rebuilt) * 30.0
        rebuilt += [inverse[label]] * int(round(duration / 30.0))
    assert rebuilt == NIGHT


def test_edf_hypnogram_of_a_full_night_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    night = list(rng.choice(list(STAGES), size=1000, p=[0.2, 0.1, 0.4, 0.15, 0.15]))
    write_hypnogram_edf(tmp_path / "n.edf", stages=night)
    reader = pyedflib.EdfReader(str(tmp_path / "n.edf"))
    onsets, durations, labels = reader.readAnnotations()
    assert reader.getStartdatetime() == datetime(1985, 1, 1)  # documented "unknown" start
    reader.close()
    assert onsets[-1] + durations[-1] == 1000 * 30.0 and len(labels) < 1000


def test_edf_hypnogram_has_the_layout_of_the_genuine_sleep_edfx_file(tmp_path):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    genuine = shared / "sleep-edfx" / "SC4001EC-Hypnogram.edf"
    if not genuine.exists():
        pytest.skip(f"../shared/data missing: {genuine} is needed to compare with a real hypnogram")
    write_hypnogram_edf(tmp_path / "ours.edf", stages=NIGHT, start_datetime=START)
    layouts = []
    for path in (genuine, tmp_path / "ours.edf"):
        reader = pyedflib.EdfReader(str(path))
        layouts.append((reader.filetype, reader.signals_in_file, set(reader.readAnnotations()[2])))
        reader.close()
    (g_type, g_signals, g_labels), (o_type, o_signals, o_labels) = layouts
    assert (o_type, o_signals) == (g_type, g_signals) == (pyedflib.FILETYPE_EDFPLUS, 0)
    assert o_labels <= g_labels  # every label we write occurs in the genuine file
    assert set(EDF_STAGE_LABELS.values()) <= g_labels


def test_edf_hypnogram_refuses_start_outside_edf_dates(tmp_path):
    with pytest.raises(ValueError, match=r"start_datetime: EDF can only store dates from 1985"):
        write_hypnogram_edf(tmp_path / "h.edf", stages=NIGHT, start_datetime=datetime(1980, 1, 1))
    assert leftovers(tmp_path) == [] and not (tmp_path / "h.edf").exists()


# --------------------------------------------------------------------------- sleep statistics
HAND_MADE = [
    NIGHT,
    ["W"] * 4 + ["N1", "N2"] + ["N2"] * 12 + ["N3"] * 6 + ["W", "W"] + ["REM"] * 5 + ["N2", "W"],
    ["W", "W", "W"],  # no sleep at all
    ["N2", "N2", "N3", "REM", "N1"],  # asleep from the first epoch, no wake
    ["W", "UNS", "UNS", "N1", "W", "UNS", "N2", "N2", "W"],
]


@pytest.mark.parametrize("stages", HAND_MADE)
def test_sleep_statistics_equal_yasa(stages):
    yasa = pytest.importorskip("yasa")
    to_yasa = {"W": "WAKE", "UNS": "UNS"}
    expected = yasa.Hypnogram([to_yasa.get(s, s) for s in stages], freq="30s").sleep_statistics()
    ours = sleep_statistics(stages)
    assert list(ours) == list(expected)
    for key, value in expected.items():
        assert (math.isnan(ours[key]) and math.isnan(value)) or ours[key] == pytest.approx(value), key


def test_sleep_statistics_in_minutes_for_other_epoch_lengths():
    ours = sleep_statistics(["W", "N2", "N2", "REM"], epoch_sec=20)
    # values are rounded to 4 decimals, as YASA does
    assert ours["TIB"] == pytest.approx(80 / 60, abs=1e-4) and ours["SOL"] == pytest.approx(20 / 60, abs=1e-4)
    assert ours["%REM"] == pytest.approx(100 / 3, abs=1e-4)
    yasa = pytest.importorskip("yasa")
    expected = yasa.Hypnogram(["WAKE", "N2", "N2", "REM"], freq="20s").sleep_statistics()
    assert ours == pytest.approx({k: float(v) for k, v in expected.items()}, nan_ok=True)


# --------------------------------------------------------------------------- plot and PNG
def test_plot_hypnogram_with_probability_bands_returns_two_axes_figure():
    from matplotlib.figure import Figure

    fig = plot_hypnogram(NIGHT, probabilities_for(NIGHT), title="night 1")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    hyp, bands = fig.axes
    assert [t.get_text() for t in hyp.get_yticklabels()] == ["N3", "N2", "N1", "REM", "W"]
    assert hyp.get_title() == "night 1"
    assert len(bands.collections) == 5  # one stacked band per stage
    from matplotlib.colors import to_hex

    rem_lines = [c for c in hyp.collections if to_hex(c.get_color()[0]) == "#d62828"]
    assert len(rem_lines) == 2  # the two REM runs of NIGHT are highlighted
    assert len(hyp.patches) == 1  # the UNS epoch is shaded


def test_plot_hypnogram_without_probabilities_and_into_given_axes():
    from matplotlib.figure import Figure

    assert len(plot_hypnogram(NIGHT).axes) == 1
    fig = Figure()
    ax = fig.subplots()
    assert plot_hypnogram(NIGHT, ax=ax) is fig
    with pytest.raises(ValueError, match=r"ax: expected a pair of Axes"):
        plot_hypnogram(NIGHT, probabilities_for(NIGHT), ax=ax)


def test_plot_does_not_touch_pyplot_state():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_hypnogram(NIGHT, probabilities_for(NIGHT))
    assert plt.get_fignums() == before


def test_png_written_is_a_real_png(tmp_path):
    write_hypnogram_png(tmp_path / "h.png", stages=NIGHT, probabilities=probabilities_for(NIGHT))
    data = (tmp_path / "h.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_summary_json_writes_nan_as_null(tmp_path):
    stats = sleep_statistics(["W", "W"])
    write_summary_json(tmp_path / "s.json", {"stats": stats, "n": np.int64(2), "start": START})
    loaded = json.loads((tmp_path / "s.json").read_text())
    assert loaded["stats"]["WASO"] is None and loaded["stats"]["TIB"] == 1.0
    assert loaded["n"] == 2 and loaded["start"] == "2021-03-04T22:15:30"


def test_hypnogram_png_has_a_clock_time_axis_and_a_title_with_file_channel_tst_and_se(tmp_path):
    from eeg_vlm.staging import NightResult

    n = 240  # 2 h from 22:47:30
    stages = ["W"] * 20 + ["N2"] * 200 + ["W"] * 20
    probs = np.tile(np.array([[0.1, 0.1, 0.6, 0.1, 0.1]], dtype=np.float32), (n, 1))
    result = NightResult(stages=stages, probabilities=probs, confidence=probs.max(1), reasoning=[None] * n,
                         epoch_onsets=np.arange(n) * 30.0, start_datetime=datetime(2021, 3, 4, 22, 47, 30),
                         channel="EEG C4-M1", source="/data/night7.edf")
    fig = result.plot(tmp_path / "night7.hypnogram.png")
    assert type(fig).__name__ == "Figure" and (tmp_path / "night7.hypnogram.png").stat().st_size > 10_000
    top, bottom = fig.axes[:2]
    assert top.get_title() == "night7.edf  |  EEG C4-M1  |  TST 100 min  |  sleep efficiency 83.3 %"
    fig.canvas.draw()
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["23:00", "00:00"]
    assert bottom.get_xticks()[0] == pytest.approx(12.5 / 60)  # 22:47:30 + 12.5 min
    assert "Clock time" in bottom.get_xlabel()
    with pytest.raises(ValueError, match="already exists"):
        result.plot(tmp_path / "night7.hypnogram.png")
    result.plot(tmp_path / "night7.hypnogram.png", overwrite=True)
    no_clock = NightResult(stages=stages, probabilities=probs, confidence=probs.max(1), reasoning=[None] * n,
                           epoch_onsets=np.arange(n) * 30.0)
    assert no_clock.plot().axes[1].get_xlabel() == "Time from the start (h)"
