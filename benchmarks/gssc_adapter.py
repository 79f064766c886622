"""Run the Greifswald Sleep Stage Classifier (GSSC, pip ``gssc`` 0.0.9) on one EEG channel, for the benchmarks only.

Used by ``benchmarks/compare_yasa.py``. GSSC is a benchmark-only dependency, never imported by ``eeg_vlm``. Install it
without its dependency list, so that it cannot replace the CPU torch (its only extra need is ``importlib_resources``;
mne, torch, pandas and matplotlib are already EEG-VLM dependencies)::

    pip install --no-deps gssc==0.0.9 "importlib-resources>=5"

(or ``pip install -e ".[benchmarks]"`` where torch==2.13.0 CPU is installed first). Quick check on a simulated night
(from the project root)::

    python benchmarks/gssc_adapter.py

gssc 0.0.9 (2023) needs three things on today's stack, all done here at run time (site-packages stay untouched):

1. Its networks are whole pickled ``torch.nn.Module`` objects. torch >= 2.6 loads with ``weights_only=True`` by
   default and refuses them (``UnpicklingError``), so :func:`load_gssc` loads the two files shipped inside the
   installed ``gssc`` package with ``weights_only=False`` (that runs pickle code: acceptable only for those files)
   and hands them to ``gssc.infer.EEGInfer(net=..., con_net=...)``.
2. Its vote across channel permutations (``gssc.utils.loudest_vote``) calls ``np.argmax``/``np.argmin`` on torch
   tensors; with numpy 2.4.6 + torch 2.13 that goes through numpy's deprecated ``__array_wrap__`` and ``__array__``
   (no ``copy=``) fallbacks: four ``DeprecationWarning`` per recording, an error under ``-W error`` and once numpy
   drops the fallbacks. :func:`patched_vote` swaps in :func:`loudest_vote`, the same rule on numpy arrays (its
   equality with the original is tested), while GSSC runs.
3. It cuts a recording into 30-s epochs from ``raw.times[-1]``, which is one sample short of the last epoch when the
   recording is exactly whole epochs long, so the last epoch is silently dropped (59 stages for DREAMS excerpt 1's 60
   epochs). :func:`pad_one_sample` trims to whole epochs and repeats the last sample once, so it keeps every epoch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import numpy as np

logger = logging.getLogger(__name__)

GSSC_VERSION = "0.0.9"  # the adapter relies on this version's internals (EEGInfer.mne_infer looks up loudest_vote)
INSTALL_COMMAND = f'pip install --no-deps gssc=={GSSC_VERSION} "importlib-resources>=5"'
GSSC_STAGES = ("W", "N1", "N2", "N3", "REM")  # GSSC's integer codes 0-4 (gssc.utils.graph_summary: Wake N1 N2 N3 REM)
EPOCH_SEC = 30.0  # GSSC scores AASM 30-s epochs
NET_FILES = ("sig_net_v1.pt", "gru_net_v1.pt")  # the signal ResNet and the context GRU, in gssc/nets/
TRAINED_LOWPASS_HZ = 30.0  # GSSC band-passes to 0.3-30 Hz where the rate allows and warns when it cannot


class GsscMissingError(ImportError):
    """``gssc`` (or its one extra need, ``importlib_resources``) is not installed."""


def gssc_version() -> str | None:
    """The installed gssc version, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("gssc")
    except metadata.PackageNotFoundError:
        return None


def require_gssc() -> None:
    """Raise :class:`GsscMissingError`, with the install command, when gssc cannot be imported."""
    try:
        import gssc.infer  # noqa: F401
        import gssc.utils  # noqa: F401
    except ImportError as err:
        raise GsscMissingError(f"GSSC is not available ({err}); install it with: {INSTALL_COMMAND}") from err
    version = gssc_version()
    if version != GSSC_VERSION:
        logger.warning("gssc %s is installed; this adapter was written for gssc %s.", version, GSSC_VERSION)


def pad_one_sample(signal, sampling_rate: float) -> tuple[np.ndarray, int]:
    """The signal as GSSC must get it to score every whole 30-s epoch, and that number of epochs.

    Parameters
    ----------
    signal : array_like
        ``(n_samples,)`` EEG (any unit; GSSC z-scores the whole recording).
    sampling_rate : float
        Hz.

    Returns
    -------
    padded : numpy.ndarray
        ``(n_epochs * samples_per_epoch + 1,)`` float64: the whole epochs, then the last kept sample once more (GSSC
        needs the sample at the end time of its last epoch).
    n_epochs : int
        Number of whole 30-s epochs; a partial epoch at the end is dropped, as ``eeg_vlm.stage_night`` does.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"signal: expected a 1-D array (n_samples,), got shape {signal.shape}; pass one channel.")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate: expected a positive rate in Hz, got {sampling_rate!r}.")
    per_epoch = EPOCH_SEC * sampling_rate
    if per_epoch != round(per_epoch):
        raise ValueError(f"sampling_rate: 30 s must be a whole number of samples, got {sampling_rate!r} Hz; "
                         "resample first.")
    per_epoch = int(round(per_epoch))
    n_epochs = len(signal) // per_epoch
    if n_epochs < 1:
        raise ValueError(f"signal: expected at least one 30-s epoch ({per_epoch} samples at {sampling_rate:g} Hz), "
                         f"got {len(signal)} samples.")
    kept = signal[: n_epochs * per_epoch]
    return np.concatenate([kept, kept[-1:]]), n_epochs  # (n_epochs * per_epoch + 1,)


def stages_from_codes(codes, n_epochs: int) -> list[str]:
    """GSSC's integer stages (0-4) as AASM names; ``ValueError`` on a wrong count or an unknown code."""
    codes = np.asarray(codes)
    if codes.shape != (n_epochs,):
        raise ValueError(f"GSSC returned {codes.shape} stages, expected ({n_epochs},): one per 30-s epoch.")
    bad = sorted({int(c) for c in codes if not 0 <= int(c) < len(GSSC_STAGES)})
    if bad:
        raise ValueError(f"GSSC returned unknown stage code(s) {bad}; expected 0-4 ({', '.join(GSSC_STAGES)}).")
    return [GSSC_STAGES[int(c)] for c in codes]


def loudest_vote(logits) -> np.ndarray:
    """``gssc.utils.loudest_vote`` on numpy arrays: per epoch, the most confident channel permutation decides.

    Parameters
    ----------
    logits : array_like
        ``(n_permutations, n_epochs, 5)`` log-probabilities (GSSC's context GRU ends in a LogSoftmax).

    Returns
    -------
    numpy.ndarray
        ``(n_epochs,)`` int64 stage codes. For each epoch, the permutation whose own top class has the lowest
        negative log-likelihood (the first on a tie, as torch's argmin) gives its top class.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 3 or logits.shape[0] < 1:
        raise ValueError(f"logits: expected (n_permutations >= 1, n_epochs, n_classes), got shape {logits.shape}.")
    nll = -logits.max(axis=-1)  # (P, N): NLL of each permutation's own argmax, as gssc's NLLLoss(reduction="none")
    best = nll.argmin(axis=0)  # (N,)
    chosen = logits[best, np.arange(logits.shape[1])]  # (N, C)
    return chosen.argmax(axis=1).astype(np.int64)


@contextlib.contextmanager
def patched_vote() -> Iterator[None]:
    """Within the block, ``EEGInfer.mne_infer`` votes with :func:`loudest_vote`; the original is put back after."""
    import gssc.infer

    original = gssc.infer.loudest_vote  # mne_infer looks the name up in gssc.infer's globals at call time
    gssc.infer.loudest_vote = loudest_vote
    try:
        yield
    finally:
        gssc.infer.loudest_vote = original


def load_gssc():
    """GSSC's ``EEGInfer`` on the CPU with its shipped networks (loaded with ``weights_only=False``, see the top)."""
    require_gssc()
    import torch
    from gssc.infer import EEGInfer
    from importlib_resources import files

    nets = []
    for name in NET_FILES:
        path = files("gssc.nets").joinpath(name)
        # Whole pickled modules (gssc.networks classes): torch >= 2.6's weights_only=True default refuses them.
        nets.append(torch.load(path, weights_only=False, map_location="cpu"))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Running without CUDA on CPU..."
        return EEGInfer(net=nets[0], con_net=nets[1], use_cuda=False)


def stage_gssc(signal_uv, sampling_rate: float, channel: str, infer) -> tuple[list[str], str]:
    """GSSC's stage for every whole 30-s epoch of one EEG channel, and a note on what was done to the signal.

    Parameters
    ----------
    signal_uv : array_like
        ``(n_samples,)`` EEG in uV.
    sampling_rate : float
        Hz. GSSC resamples each epoch to 2560 samples (85.3 Hz) itself.
    channel : str
        Channel name (EEG only: GSSC gets no EOG).
    infer : gssc.infer.EEGInfer
        From :func:`load_gssc`.

    Returns
    -------
    stages : list of str
        One of ``W N1 N2 N3 REM`` per whole epoch.
    note : str
        Empty, or what differs from GSSC's training (a low-pass below 30 Hz when the rate is under 60 Hz).
    """
    import mne

    padded, n_epochs = pad_one_sample(signal_uv, sampling_rate)
    info = mne.create_info([channel], float(sampling_rate), ch_types="eeg", verbose="error")
    raw = mne.io.RawArray(padded[None, :] * 1e-6, info, verbose="error")  # (1, n) in volts, as MNE holds EEG
    note = ""
    nyquist = sampling_rate / 2.0
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched_vote())
        stack.enter_context(mne.utils.use_log_level("error"))  # its filter and resampling log every step
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))  # "Inferring permutation 1 of 1" etc.
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        codes, _ = infer.mne_infer(raw, eeg=[channel], eog=[], filter=True)
    for w in caught:
        if nyquist < TRAINED_LOWPASS_HZ and "lowpass filter of 30Hz" in str(w.message):
            note = f"GSSC: low-pass is the {nyquist:g} Hz Nyquist limit (trained with 30 Hz)"
        else:
            logger.warning("GSSC warned: %s", w.message)
    return stages_from_codes(codes, n_epochs), note


def main() -> int:
    """Stage the bundled (simulated) sample night's EEG with GSSC; print the stage counts and the time."""
    import time

    import torch

    from eeg_vlm.io import load_recording
    from eeg_vlm.staging import sample_night_path
    from eeg_vlm.threads import torch_threads

    try:
        require_gssc()
    except GsscMissingError as err:
        print(f"SKIPPED: {err}")
        return 0
    rec = load_recording(sample_night_path())  # its first preferred EEG channel, in uV at 100 Hz
    t0 = time.perf_counter()
    infer = load_gssc()
    load_sec = time.perf_counter() - t0
    with torch_threads() as threads, torch.inference_mode():
        t0 = time.perf_counter()
        stages, note = stage_gssc(rec.data, rec.sampling_rate, rec.channel_name, infer)
        sec = time.perf_counter() - t0
    counts = ", ".join(f"{s} {stages.count(s)}" for s in GSSC_STAGES)
    print(f"GSSC {gssc_version()} on {sample_night_path().name} ({rec.channel_name}, {len(stages)} epochs, "
          f"{threads} torch thread(s)): {counts}; networks loaded in {load_sec:.1f} s, staged in {sec:.1f} s"
          + (f"; {note}" if note else ""))
    return 0


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import eeg_vlm`
    raise SystemExit(main())
