"""benchmarks/gssc_adapter.py: what GSSC 0.0.9 needs to score every epoch, and compare_yasa.py without GSSC.

The adapter's own logic (padding, label mapping, the vote) needs neither gssc nor DREAMS; the tests that run the real
GSSC skip with a reason where it is not installed (CI installs no benchmark-only package).
"""

import importlib
import sys
import warnings

import numpy as np
import pytest

from conftest import BENCHMARKS, import_benchmark


@pytest.fixture(scope="module")
def adapter():
    return import_benchmark("gssc_adapter")


def _gssc_or_skip(adapter):
    try:
        adapter.require_gssc()
    except adapter.GsscMissingError:
        pytest.skip(f"gssc is not installed (benchmark-only: {adapter.INSTALL_COMMAND})")


def test_pad_one_sample_keeps_every_whole_epoch_and_repeats_the_last_sample(adapter):
    signal = np.arange(3 * 3000, dtype=np.float32)  # exactly three 30-s epochs at 100 Hz
    padded, n_epochs = adapter.pad_one_sample(signal, 100.0)
    assert n_epochs == 3
    assert padded.shape == (9001,) and padded.dtype == np.float64
    np.testing.assert_array_equal(padded[:9000], signal)
    assert padded[-1] == signal[-1]
    assert signal.shape == (9000,)  # the input is not changed


def test_pad_one_sample_drops_a_partial_last_epoch(adapter):
    padded, n_epochs = adapter.pad_one_sample(np.ones(2 * 1500 + 700), 50.0)  # two epochs and 14 s at 50 Hz
    assert n_epochs == 2
    assert padded.shape == (3001,)


@pytest.mark.parametrize("signal, rate, arg", [
    (np.zeros((2, 3000)), 100.0, "signal"),  # two channels
    (np.zeros(2999), 100.0, "signal"),  # shorter than one epoch
    (np.zeros(3000), 0.0, "sampling_rate"),
    (np.zeros(3000), 33.3, "sampling_rate"),  # 30 s is not a whole number of samples
])
def test_pad_one_sample_refuses_bad_input_naming_the_argument(adapter, signal, rate, arg):
    with pytest.raises(ValueError, match=arg):
        adapter.pad_one_sample(signal, rate)


def test_stages_from_codes_maps_gssc_codes_to_aasm_stages(adapter):
    assert adapter.stages_from_codes(np.array([0, 1, 2, 3, 4, 2]), 6) == ["W", "N1", "N2", "N3", "REM", "N2"]
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        adapter.stages_from_codes(np.array([0, 1]), 3)  # an epoch lost
    with pytest.raises(ValueError, match="unknown stage code"):
        adapter.stages_from_codes(np.array([0, 5]), 2)


def test_loudest_vote_takes_each_epoch_from_its_most_confident_permutation(adapter):
    p = np.log(np.array([
        [[0.6, 0.1, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1, 0.6]],  # permutation 0
        [[0.1, 0.1, 0.1, 0.1, 0.6], [0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7, 0.0]],  # permutation 1
    ]) + 1e-12)
    # epoch 0: both 0.6 confident, the first permutation wins the tie; 1: only permutation 1 is sure; 2: 0.7 > 0.6
    np.testing.assert_array_equal(adapter.loudest_vote(p), [0, 2, 3])
    with pytest.raises(ValueError, match="logits"):
        adapter.loudest_vote(p[0])


def test_loudest_vote_gives_gssc_original_vote(adapter):
    _gssc_or_skip(adapter)
    import torch
    from gssc.utils import loudest_vote as original

    rng = np.random.default_rng(0)
    for n_perm in (1, 3):
        logits = torch.log_softmax(torch.tensor(rng.normal(size=(n_perm, 50, 5)), dtype=torch.float32), -1).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the numpy-on-tensor calls the adapter replaces
            expected = original(logits)
        np.testing.assert_array_equal(adapter.loudest_vote(logits), expected)


def test_gssc_scores_every_epoch_once_padded(adapter):
    """gssc 0.0.9 drops the last epoch of a whole-epoch recording; the adapter keeps it, and puts the vote back."""
    _gssc_or_skip(adapter)
    import mne
    import gssc.infer

    original_vote = gssc.infer.loudest_vote
    infer = adapter.load_gssc()
    signal = np.random.default_rng(1).normal(scale=20.0, size=4 * 3000)  # (4 epochs * 3000,) uV at 100 Hz
    stages, note = adapter.stage_gssc(signal, 100.0, "C3-A1", infer)
    assert len(stages) == 4 and set(stages) <= set(adapter.GSSC_STAGES) and note == ""
    assert gssc.infer.loudest_vote is original_vote

    raw = mne.io.RawArray(signal[None] * 1e-6, mne.create_info(["C3-A1"], 100.0, "eeg", verbose="error"),
                          verbose="error")
    with adapter.patched_vote(), mne.utils.use_log_level("error"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unpadded, _ = infer.mne_infer(raw, eeg=["C3-A1"], eog=[])
    assert len(unpadded) == 3  # why the padding exists


def test_compare_yasa_without_gssc_prints_the_install_command(adapter, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gssc", None)  # `import gssc` raises ImportError, as where it is not installed
    monkeypatch.setitem(sys.modules, "gssc.infer", None)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    compare_yasa = importlib.import_module("compare_yasa")
    assert compare_yasa.main(["--methods", "GSSC"]) == 0  # nothing else asked for: stops before reading DREAMS
    out = capsys.readouterr().out
    assert "GSSC left out" in out and adapter.INSTALL_COMMAND in out
