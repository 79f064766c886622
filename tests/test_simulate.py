"""Tests of the Sleep-EDFx-format night simulator (eeg_vlm/simulation: waveforms, nights, hypnograms).

Run: cd /work/main && python -m pytest tests/test_simulate.py -q -x
"""

import datetime as dt
import logging
import re
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from eeg_vlm.simulation import generator as sim
from eeg_vlm.simulation import nights, physiology
from eeg_vlm.dataset_builder.features import measure_epochs
from eeg_vlm.simulation.hypnograms import random_hypnogram, read_hypnogram, write_hypnogram

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SC4001 = SHARED / "sleep-edfx" / "SC4001EC-Hypnogram.edf"
# A compact night: every stage in blocks long enough to measure (70 min).
CODES = ["W"] * 20 + ["1"] * 10 + ["2"] * 40 + ["3"] * 20 + ["4"] * 20 + ["2"] * 10 + ["R"] * 30


@pytest.fixture(scope="module")
def measured():
    rng = np.random.default_rng(0)
    params = sim.draw_subject_params(rng, age=30)
    sig = sim.simulate_epochs(CODES, rng, params, calibration=None)  # the hand-set waveform layer
    n = len(CODES)
    ep = lambda label: sig[label].reshape(n, -1)
    emg = sim.emg_envelope(sig["EMG submental"]).reshape(n, 30)
    df = measure_epochs(ep("EEG Fpz-Cz"), sim.FS, eog_epochs=ep("EOG horizontal"), emg_epochs=emg)
    df["pz_alpha_rel"] = measure_epochs(ep("EEG Pz-Oz"), sim.FS)["alpha_rel"]
    df["code"] = CODES
    inner = np.ones(n, bool)  # drop the cross-faded epochs at each stage boundary
    change = np.flatnonzero(np.array(CODES[1:]) != np.array(CODES[:-1]))
    inner[np.r_[change, change + 1]] = False
    return df[inner].groupby("code").median()


def test_simulate_epochs_shapes_and_units():
    sig = sim.simulate_epochs(["W", "2", "R"], np.random.default_rng(1),
                              sim.draw_subject_params(np.random.default_rng(1)))
    assert tuple(sig) == sim.CHANNELS
    assert all(x.shape == (3 * 3000,) and np.all(np.isfinite(x)) for x in sig.values())
    assert 3 < np.std(sig["EEG Fpz-Cz"]) < 100  # uV, not V


def test_n3_slow_waves_meet_rk_criteria(measured):
    assert measured.loc["3", "slow_wave_fraction"] >= 0.2
    assert measured.loc["4", "slow_wave_fraction"] > 0.5
    assert measured.loc["2", "slow_wave_fraction"] < 0.2
    assert measured.loc["4", "delta_rel"] > measured.loc["2", "delta_rel"] > measured.loc["W", "delta_rel"]


def test_wake_alpha_is_posterior_and_higher_than_n2(measured):
    assert measured.loc["W", "alpha_rel"] > measured.loc["2", "alpha_rel"]
    assert measured.loc["W", "pz_alpha_rel"] > measured.loc["W", "alpha_rel"]
    assert measured.loc["W", "alpha_fraction"] > measured.loc["2", "alpha_fraction"]


def test_n2_spindles_and_kcomplexes(measured):
    for other in ("1", "R", "W"):
        assert measured.loc["2", "spindle_count"] > measured.loc[other, "spindle_count"]
    assert measured.loc["2", "kcomplex_count"] >= 1
    assert measured.loc["R", "kcomplex_count"] == 0


def test_n1_and_rem_theta(measured):
    for stage in ("1", "R"):
        assert measured.loc[stage, "theta_rel"] > measured.loc["W", "theta_rel"]
        assert measured.loc[stage, "theta_rel"] > measured.loc["4", "theta_rel"]


def test_rem_eye_movements_and_lowest_chin_tone(measured):
    for other in ("2", "3", "4"):
        assert measured.loc["R", "eye_movement_count"] > measured.loc[other, "eye_movement_count"]
    assert measured["emg_rms_uv"].idxmin() == "R"
    assert measured["emg_rms_uv"].idxmax() == "W"


def test_stage_transitions_are_cross_faded():
    traj = physiology._trajectories(["1"] * 4 + ["4"] * 4, np.random.default_rng(2),
                             sim.draw_subject_params(np.random.default_rng(2)))
    sw = traj[:, physiology.C["sw"]]
    step = sw[140:].mean() - sw[:100].mean()
    assert step > 0
    # a step function would jump the whole way in one second; the cross-fade takes several
    assert np.max(np.abs(np.diff(sw[100:140]))) < 0.3 * step


def test_deterministic_for_a_seed():
    run = lambda seed: sim.simulate_epochs(["W", "2"], np.random.default_rng(seed),
                                           sim.draw_subject_params(np.random.default_rng(seed)))
    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["EEG Fpz-Cz"], c["EEG Fpz-Cz"])


def test_subject_params_vary_within_published_ranges():
    ps = [sim.draw_subject_params(np.random.default_rng(s)) for s in range(50)]
    alpha = [p["alpha_freq"] for p in ps]
    spindle = [p["spindle_freq"] for p in ps]
    assert 8.5 <= min(alpha) and max(alpha) <= 11.5 and np.std(alpha) > 0.5
    assert 11.5 <= min(spindle) and max(spindle) <= 14.5 and np.std(spindle) > 0.5
    assert np.std([p["amp_scale"] for p in ps]) > 0.05


def test_random_hypnogram_is_plausible():
    for seed in range(10):
        codes = np.array(random_hypnogram(np.random.default_rng(seed)))
        hours = len(codes) / 120
        assert 8.5 <= hours <= 10.5
        sleep = np.flatnonzero(codes != "W")
        assert 30 <= sleep[0] / 2 <= 80  # minutes: in-bed wake + 10-30 min latency
        deep, rem = np.flatnonzero(np.isin(codes, ["3", "4"])), np.flatnonzero(codes == "R")
        assert np.median(deep) < np.median(rem)  # N3 early, REM late
        rem_periods = np.sum(np.diff(np.r_[0, (codes == "R").astype(int)]) == 1)
        assert rem_periods >= 3  # ~90-min cycles
        assert np.sum(codes == "1") > 5 and np.sum(codes == "W") > 40


def test_simulate_random_writes_sleep_edfx_pairs(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        psgs = nights.simulate_random(tmp_path, n_subjects=1, seed=3, nights_per_subject=2, hours=0.5)
    assert not [r for r in caplog.records if "clipped" in r.getMessage()]
    assert [p.name for p in psgs] == ["SC4001E0-PSG.edf", "SC4002E0-PSG.edf"]
    for psg in psgs:
        hyps = list(tmp_path.glob(psg.name[:7] + "*-Hypnogram.edf"))
        assert len(hyps) == 1 and re.fullmatch(r"SC400[12]E[A-Z]-Hypnogram\.edf", hyps[0].name)
        codes, start, header = read_hypnogram(hyps[0])
        assert len(codes) == 60
        with pyedflib.EdfReader(str(psg)) as r:
            assert r.getSignalLabels() == list(sim.CHANNELS)
            assert list(r.getSampleFrequencies()) == [100, 100, 100, 1, 100]  # C4-M1 last
            assert {r.getPhysicalDimension(i) for i in range(4)} == {"uV"}
            assert r.getStartdatetime() == start
            assert r.getFileDuration() == 30 * 60
            assert r.getHeader()["patientname"] == header["patientname"]
            assert re.fullmatch(r"(Female|Male) \d+yr", header["patientname"])
            x = r.readSignal(0)
        assert len(x) == 180000 and 3 < np.std(x) < 100
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave no temp files


def test_simulate_from_small_hypnogram(tmp_path):
    start = dt.datetime(1990, 1, 2, 23, 30)
    hyp = write_hypnogram(tmp_path / "SC4123EH-Hypnogram.edf", ["W", "1", "2", "2", "?"], start,
                          patientname="Male 61yr", sex="Male")
    psg = nights.simulate_from_hypnogram(hyp, tmp_path / "out", seed=1, emg_rate=100,
                                      subject_params={"alpha_freq": 9.0})
    assert psg == tmp_path / "out" / "SC4123E0-PSG.edf"
    assert (tmp_path / "out" / hyp.name).read_bytes() == hyp.read_bytes()
    with pyedflib.EdfReader(str(psg)) as r:
        assert r.getFileDuration() == 150 and r.getStartdatetime() == start
        assert list(r.getSampleFrequencies()) == [100, 100, 100, 100, 100]
        assert r.getHeader()["patientname"] == "Male 61yr"


def test_bad_inputs_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="hypnogram_path"):
        nights.simulate_from_hypnogram(tmp_path / "missing-Hypnogram.edf", tmp_path)
    with pytest.raises(ValueError, match="emg_rate"):
        nights.simulate_random(tmp_path, n_subjects=1, emg_rate=50)
    with pytest.raises(ValueError, match="n_subjects"):
        nights.simulate_random(tmp_path, n_subjects=0)
    with pytest.raises(ValueError, match="nights_per_subject"):
        nights.simulate_random(tmp_path, n_subjects=1, nights_per_subject=3)
    with pytest.raises(ValueError, match="codes"):
        sim.simulate_epochs(["W", "N5"], np.random.default_rng(0), sim.draw_subject_params(
            np.random.default_rng(0)))


def test_simulate_from_genuine_sc4001_hypnogram(tmp_path):
    if not SC4001.is_file():
        pytest.skip(f"../shared/data missing: {SC4001} not found (genuine Sleep-EDFx hypnogram)")
    psg = nights.simulate_from_hypnogram(SC4001, tmp_path, seed=0)
    assert psg.name == "SC4001E0-PSG.edf"
    assert (tmp_path / "SC4001EC-Hypnogram.edf").read_bytes() == SC4001.read_bytes()
    with pyedflib.EdfReader(str(psg)) as r:
        # the annotations run to 79500 + 6900 s, trailing 'Sleep stage ?' included
        assert r.getFileDuration() == 86400
        assert r.getStartdatetime() == dt.datetime(1989, 4, 24, 16, 13)
        assert r.getHeader()["patientname"] == "Female 33yr"
        assert r.getSignalLabels() == list(sim.CHANNELS)
