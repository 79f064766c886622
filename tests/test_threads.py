"""Thread choice: an explicit count wins, the environment next, else the idle cores (at least one); the process's
own torch thread count is restored. (Its effect on speed is measured by benchmarks/stage_night.py --busy 2.)"""

import pytest
import torch

from eeg_vlm.threads import available_cores, choose_threads, idle_cores, torch_threads


def test_explicit_count_wins_and_bad_counts_are_refused(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(5) == 5
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="num_threads: received"):
            choose_threads(bad)


def test_environment_is_respected(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("EEG_VLM_NUM_THREADS", "3")
    assert choose_threads() == 3
    monkeypatch.delenv("EEG_VLM_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads() == 1


def test_default_is_the_idle_cores_at_least_one(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("EEG_VLM_NUM_THREADS", raising=False)
    assert 0.0 <= idle_cores() <= available_cores()
    assert 1 <= choose_threads() <= available_cores()


def test_torch_thread_count_is_restored():
    before = torch.get_num_threads()
    with torch_threads(1) as chosen:
        assert chosen == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
