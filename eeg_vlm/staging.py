"""Stage a whole night: ``stage_night()`` and its :class:`NightResult`.

    import eeg_vlm
    result = eeg_vlm.stage_night("night.edf")           # or an mne.io.Raw, or a numpy array in uV
    result.to_csv("night.hypnogram.csv"); print(result.summary())

Whole-night staging uses the stage head (one batched pass of the vision side, no language model); the
Chain-of-Thought is generated only for the epochs asked for with ``explain``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from .io import UNSCORABLE, load_recording, plot_hypnogram, sleep_statistics, write_csv, write_hypnogram_edf

logger = logging.getLogger(__name__)

STAGES = ("W", "N1", "N2", "N3", "REM")
DEFAULT_BATCH_SIZE = 64  # epochs per forward pass: ~0.1 GB of activations for the default model


def default_model_path() -> Path:
    """Directory of the embedded default model (shipped inside the package)."""
    path = Path(__file__).resolve().parent / "default_model"
    if not (path / "config.json").exists():
        raise ValueError(
            f"model: the embedded default model is missing from {path}. Reinstall eeg-vlm, or pass model=DIR_OR_HUB_ID "
            "(train one with `python -m eeg_vlm.train default-model --out runs/default --install`)."
        )
    return path


def sample_night_path() -> Path:
    """The bundled sample night: a simulated Sleep-EDFx-format PSG (its hypnogram lies beside it)."""
    return next((Path(__file__).resolve().parent / "sample").glob("*-PSG.edf"))


@lru_cache(maxsize=4)
def _load_cached(name: str):
    import torch

    from .train.modeling_setup import load_model

    model, processor = load_model(name, dtype=torch.float32)
    return model, processor


def load_staging_model(model=None, *, night_inputs: str | None = None):
    """``(model, processor)`` from None (the embedded default), a Hub id / directory, or a ``(model, processor)``.

    ``night_inputs`` (``"both"``, ``"features"`` or ``"image"``): a copy whose night model reads that instead of its
    saved ``config.night_inputs`` (the cached or given model is left as it is). Default None: as saved.
    """
    if isinstance(model, tuple) and len(model) == 2:
        loaded = model
    elif model is None:
        loaded = _load_cached(str(default_model_path()))
    elif isinstance(model, (str, Path)):
        loaded = _load_cached(str(model))
    else:
        raise ValueError(f"model: received {type(model).__name__}, expected None (the default model), a Hub id or "
                         "directory, or a (model, processor) tuple.")
    if night_inputs is None:
        return loaded
    import copy

    from .configuration_eeg_vlm import NIGHT_INPUTS

    if night_inputs not in NIGHT_INPUTS:
        raise ValueError(f"night_inputs: received {night_inputs!r}, expected one of {NIGHT_INPUTS} or None (the "
                         "model's saved config.night_inputs).")
    net = copy.deepcopy(loaded[0])
    net.config.night_inputs = night_inputs
    return net, loaded[1]


@dataclass
class NightResult:
    """Stages, probabilities and explanations of one night, with exports.

    Attributes
    ----------
    stages : list of str
        One of ``W N1 N2 N3 REM`` per 30-s epoch, or ``UNS`` for an unscorable epoch (flat or gap).
    probabilities : numpy.ndarray
        ``(n_epochs, 5)`` stage probabilities (columns W, N1, N2, N3, REM); NaN rows for unscorable epochs.
    confidence : numpy.ndarray
        ``(n_epochs,)`` largest probability of each epoch.
    reasoning : list of (str or None)
        Chain-of-Thought of each explained epoch, None elsewhere: the model's measurement and rule steps, step 6
        citing the night's staged neighbours, a conclusion that applies the AASM rules to the numbers the text
        states (saying so plainly when they give another stage) and a last line ``Stage: <stages[i]>``
        (``eeg_vlm.explanation``).
    claims : list of (list of dict or None)
        For each explained epoch, every checkable claim of its reasoning with the value measured on the epoch and
        ``ok`` (True: it checks out, False: it does not, None: not checkable), see ``eeg_vlm.faithfulness``.
    epoch_onsets : numpy.ndarray
        Onset of each epoch in seconds from the recording start.
    """

    stages: list
    probabilities: np.ndarray
    confidence: np.ndarray
    reasoning: list
    epoch_onsets: np.ndarray
    epoch_sec: float = 30.0
    start_datetime: datetime | None = None
    channel: str = ""
    source: str = ""
    sampling_rate: float = 100.0
    bad_epochs: frozenset = field(default_factory=frozenset)
    claims: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.stages)

    def __repr__(self) -> str:
        counts = {s: self.stages.count(s) for s in (*STAGES, UNSCORABLE) if self.stages.count(s)}
        return f"NightResult(n_epochs={len(self)}, channel={self.channel!r}, stages={counts}, source={self.source!r})"

    def to_dataframe(self):
        """One row per epoch: epoch, onset_s, stage, confidence, p_W ... p_REM, reasoning."""
        import pandas as pd

        df = pd.DataFrame({"epoch": np.arange(len(self)), "onset_s": self.epoch_onsets, "stage": self.stages,
                           "confidence": self.confidence})
        for i, s in enumerate(STAGES):
            df[f"p_{s}"] = self.probabilities[:, i]
        df["reasoning"] = self.reasoning
        return df

    def to_csv(self, path, *, overwrite: bool = False) -> Path:
        write_csv(path, stages=self.stages, probabilities=self.probabilities, confidence=self.confidence,
                  epoch_sec=self.epoch_sec, start_datetime=self.start_datetime, overwrite=overwrite)
        return Path(path)

    def to_edf(self, path, *, overwrite: bool = False) -> Path:
        """EDF+ annotations ``Sleep stage W/1/2/3/R`` as in Sleep-EDFx hypnograms (pyedflib and MNE read it)."""
        write_hypnogram_edf(path, stages=self.stages, epoch_sec=self.epoch_sec, start_datetime=self.start_datetime,
                            overwrite=overwrite)
        return Path(path)

    def plot(self, path=None, *, ax=None, title: str | None = None, overwrite: bool = False):
        """Hypnogram above the stage-probability bands, on a clock-time axis when the start time is known.

        Parameters
        ----------
        path : str or Path, optional
            Also save the figure there as a PNG (atomically; an existing file is refused unless ``overwrite``).
        ax : pair of matplotlib Axes, optional
            Draw into ``(ax_hypnogram, ax_probabilities)`` instead of a new figure.
        title : str, optional
            Default: the file name, channel, total sleep time and sleep efficiency.
        overwrite : bool
            Replace an existing ``path``.

        Returns
        -------
        matplotlib.figure.Figure
            Nothing is shown; in a notebook the figure displays itself, elsewhere use ``fig.savefig``.
        """
        from .io.export import save_figure_png

        fig = plot_hypnogram(self.stages, self.probabilities, epoch_sec=self.epoch_sec, ax=ax,
                             title=self._title() if title is None else title, start_datetime=self.start_datetime)
        if path is not None:
            save_figure_png(fig, path, overwrite=overwrite)
        return fig

    def _title(self) -> str:
        stats = self.summary()
        source = self.source.removeprefix("mne.io.Raw(").removesuffix(")")  # "mne.io.Raw(/path/night.edf)"
        name = Path(source).name if source and source not in ("array", "mne.io.Raw") else source
        return (f"{name or 'night'}  |  {self.channel or 'EEG'}  |  TST {stats['TST']:.0f} min  |  "
                f"sleep efficiency {stats['SE']:.1f} %")

    def plot_epoch(self, i: int, *, data=None, **options):
        """Epoch ``i`` as a PSG viewer draws it (EEG, EOG/EMG when present, uV scale bars, seconds and clock time,
        neighbours, spectrogram): ``eeg_vlm.io.viewer.plot_result_epoch``. ``data``: the recording, default the
        file this night was staged from. Returns a matplotlib Figure."""
        from .io.viewer import plot_result_epoch

        return plot_result_epoch(self, i, data=data, **options)

    def summary(self) -> dict:
        """Sleep statistics as YASA's ``sleep_statistics`` (TIB, TST, SOL, WASO, SE, REM latency, % per stage),
        plus ``REM_latency_from_onset`` (min, ``Lat_REM - SOL``: the AASM REM latency) and ``SOREMP``: True when
        that latency is under 15 min, a sleep-onset REM period (a marker of narcolepsy, also seen after REM
        deprivation: worth a technician's look before it is reported)."""
        stats = sleep_statistics(self.stages, epoch_sec=self.epoch_sec)
        latency = stats["Lat_REM"] - stats["SOL"]  # NaN without REM or without sleep
        stats["REM_latency_from_onset"] = float(np.round(latency, 4))
        stats["SOREMP"] = bool(latency < SOREMP_MINUTES) if np.isfinite(latency) else False
        if stats["SOREMP"]:
            logger.warning("REM %.1f min after sleep onset: a sleep-onset REM period (SOREMP, < %g min).", latency,
                           SOREMP_MINUTES)
        return stats


SOREMP_MINUTES = 15.0  # REM within 15 min of sleep onset: a sleep-onset REM period (MSLT / ICSD-3 convention)


def _explain_indices(explain, n: int) -> list[int]:
    if explain is False or explain is None:
        return []
    if explain is True or explain == "all":
        return list(range(n))
    try:
        idx = sorted({int(i) for i in explain})
    except (TypeError, ValueError) as err:
        raise ValueError(f"explain: received {explain!r}, expected True, 'all' or a list of epoch indices.") from err
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise ValueError(f"explain: received epoch indices {bad}, expected 0 to {n - 1} for this {n}-epoch night.")
    return idx


def stage_night(data, *, sampling_rate=None, channel=None, channel_names=None, model=None, explain=False,
                ground: bool = True, eog_emg=None, progress: bool = True,
                batch_size: int = DEFAULT_BATCH_SIZE, num_threads: int | None = None,
                night_level: bool = True, night_stages=None, night_offset: int = 0) -> NightResult:
    """Stage every 30-s epoch of a night.

    Parameters
    ----------
    data : str, Path, mne.io.BaseRaw or numpy.ndarray
        An EDF/EDF+ path (Sleep-EDFx or any EDF with an EEG channel), an MNE Raw, or an array
        ``(n_channels, n_samples)`` / ``(n_samples,)`` in uV. Never modified.
    sampling_rate : float, optional
        Hz; required for arrays (>= 50 Hz). Any rate is resampled to the model's 100 Hz (polyphase).
    channel : str or int, optional
        EEG channel by name (tolerant of case, spaces, ``EEG `` prefixes) or row. Default: the first match of the
        preference list ``eeg_vlm.io.EEG_PREFERENCE`` (Fpz-Cz, Fz, Cz, C4/C3 to M1/M2/A1/A2, ...).
    channel_names : list of str, optional
        Names of the rows of an array.
    model : None, str, Path or (model, processor)
        Default: the embedded default model.
    explain : bool, "all" or list of int
        Epochs whose Chain-of-Thought is generated (slow: about a second per epoch on a CPU). Each claim of the
        reasoning is checked against the features measured on the epoch (``NightResult.claims``).
    ground : bool
        Put the epoch's measured features into the prompt, so the model explains from the image and the numbers.
        Default True: the embedded model was trained this way (faithful claims 0.978, self-consistency 0.955 as
        shown on 200 held-out epochs; with plain prompts it writes no usable explanation). The prompt also states
        the night's staging around the epoch (``eeg_vlm.reasoning.grounding.staged_sentence``).
    eog_emg : tuple (eog, emg), optional
        EOG and chin EMG in uV cut into the same 30-s epochs as the EEG, each of shape ``(n_epochs, samples per
        epoch)`` at its own rate, or None for an absent channel; the explanations cite rapid eye movements and chin
        tone measured on them. Default: read from the EDF when ``data`` is a path (``eeg_vlm.io.eog_emg``), none
        otherwise (the explanation then says "no EOG channel" / "no EMG channel").
    night_stages : sequence of str, optional
        When ``data`` is an excerpt of a night already staged (the Space explains one epoch from it and its
        neighbours): the whole night's stages. The explanations then state and cite the night's staging around each
        epoch (its stage and :data:`~eeg_vlm.reasoning.grounding.STAGED_NEIGHBOURS` neighbours a side), exactly as
        when the whole night is explained. Default: this call's own stages.
    night_offset : int
        Index in ``night_stages`` of the first epoch of ``data``.
    progress : bool
        Show progress bars.
    batch_size : int
        Epochs per forward pass.
    num_threads : int, optional
        torch threads for the forward passes and the generation. Default: the cores idle right now, at least
        one (``eeg_vlm.threads``: threads that compete with other processes for busy cores make generation
        several times slower); ``EEG_VLM_NUM_THREADS`` / ``OMP_NUM_THREADS`` also set it. The process's own
        thread count is restored afterwards.

    night_level : bool
        Stage with the model's night-level stage model when it has one (default): every epoch is read with the
        night around it, from its image and its measured features (``NightResult.probabilities`` are its output).
        False: the per-epoch stage head alone, each epoch from its image.

    Returns
    -------
    NightResult
    """
    import torch
    from tqdm.auto import tqdm

    from .image_processing_eeg_vlm import epochs_with_context
    from .threads import choose_threads, torch_threads

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: received {batch_size!r}, expected a positive integer (e.g. 64).")
    if num_threads is not None:
        choose_threads(num_threads)  # a bad value is refused before any work
    net, processor = load_staging_model(model)
    renderer = processor.image_processor
    rec = load_recording(data, sampling_rate=sampling_rate, channel=channel, channel_names=channel_names,
                         target_rate=100.0, epoch_sec=renderer.epoch_seconds)
    n = rec.n_epochs
    indices = _explain_indices(explain, n)
    windows = epochs_with_context(rec.data, rec.sampling_rate, renderer.context_epochs,
                                  epoch_seconds=renderer.epoch_seconds)  # (E, 1, (1 + 2c) * S)
    night_model = night_level and getattr(net.model, "night_encoder", None) is not None
    probs = np.zeros((n, len(STAGES)), dtype=np.float32)
    pooled = []
    eog = emg = None
    if night_model or indices:
        eog, emg = _eog_emg(data, n, renderer.epoch_seconds) if eog_emg is None else _check_eog_emg(eog_emg, n)
    with torch.inference_mode(), torch_threads(num_threads) as threads:
        logger.info("staging %d epochs with %d torch thread(s)", n, threads)
        for start in tqdm(range(0, n, batch_size), desc="staging", unit="batch", disable=not progress):
            images = renderer.render(windows[start : start + batch_size], rec.sampling_rate)
            pixels = torch.from_numpy(renderer.to_pixel_values(images))
            encoded = net.model.encode_images(pixels)
            probs[start : start + len(images)] = encoded["stage_logits"].float().softmax(-1).numpy()
            pooled.append(encoded["pooled_visual"].float())
        if night_model and n:  # the night read as a whole: each epoch's image and measured features in context
            features = _night_features(net, processor, rec, eog, emg)
            probs = net.classify_night(image_embeds=torch.cat(pooled), features=features).numpy().astype(np.float32)
    bad = sorted(rec.bad_epochs)
    probs[bad] = np.nan
    stages = [STAGES[i] for i in probs.argmax(-1)] if n else []
    for i in bad:
        stages[i] = UNSCORABLE
    confidence = np.where(np.isnan(probs).any(-1), np.nan, np.nanmax(np.nan_to_num(probs, nan=0.0), axis=-1))
    reasoning, claims = [None] * n, [None] * n
    if indices:
        from .feature_extraction_eeg_vlm import EEGVLMFeatureExtractor
        from .explanation import night_explanation
        from .faithfulness import check_claims
        from .grounding import STAGED_NEIGHBOURS, grounded_prompt
        from .processing_eeg_vlm import STAGING_PROMPT
        from .train.evaluate import generate_cot

        around = sorted({j for i in indices for j in (i - 1, i, i + 1) if 0 <= j < n})
        spe = rec.samples_per_epoch
        extractor = getattr(processor, "feature_extractor", None) or EEGVLMFeatureExtractor()
        measured = extractor.measure(np.stack([rec.data[j * spe : (j + 1) * spe] for j in around]), rec.sampling_rate,
                                     eog_epochs=None if eog is None else eog[around],
                                     emg_epochs=None if emg is None else emg[around])
        feats = dict(zip(around, measured))
        images = [renderer.render(windows[i], rec.sampling_rate)[0] for i in indices]
        night, at = _night_stages(stages, night_stages, night_offset, n)
        k = STAGED_NEIGHBOURS  # the night's staging around each epoch goes into its prompt too
        prompts = ([grounded_prompt(feats[i], prev_features=feats.get(i - 1), next_features=feats.get(i + 1),
                                    stage=night[at + i], stages_before=night[max(0, at + i - k) : at + i],
                                    stages_after=night[at + i + 1 : at + i + 1 + k])
                    for i in indices] if ground else STAGING_PROMPT)
        with torch_threads(num_threads) as threads:  # chosen again: the load may have changed since
            logger.info("explaining %d epoch(s) with %d torch thread(s)", len(indices), threads)
            texts = generate_cot(net, processor, images, prompt=prompts, progress=progress)
        for i, text in zip(indices, texts):
            # the text speaks for this night: its staged stage and staged neighbours, no training-label wording
            j = at + i  # the epoch in the night whose staging the text speaks for
            prev_stage = night[j - 1] if j > 0 and night[j - 1] in STAGES else None
            next_stage = night[j + 1] if j + 1 < len(night) and night[j + 1] in STAGES else None
            reasoning[i] = night_explanation(text, night[j], prev_stage=prev_stage, next_stage=next_stage)
            claims[i] = check_claims(reasoning[i], feats[i], prev_features=feats.get(i - 1),
                                     next_features=feats.get(i + 1), prev_stage=prev_stage, next_stage=next_stage)
    return NightResult(stages=stages, probabilities=probs, confidence=confidence.astype(np.float32),
                       reasoning=reasoning, epoch_onsets=np.arange(n) * renderer.epoch_seconds,
                       epoch_sec=renderer.epoch_seconds, start_datetime=rec.start_datetime, channel=rec.channel_name,
                       source=rec.source, sampling_rate=rec.original_sampling_rate, bad_epochs=rec.bad_epochs,
                       claims=claims)


def _night_stages(stages, night_stages, offset, n) -> tuple[list, int]:
    """The staging the explanations speak for, and where this call's first epoch sits in it."""
    if night_stages is None:
        return list(stages), 0
    night = [str(s) for s in night_stages]
    if not (isinstance(offset, (int, np.integer)) and 0 <= offset and offset + n <= len(night)):
        raise ValueError(f"night_offset: received {offset!r} for a {n}-epoch excerpt and {len(night)} night "
                         f"stages, expected an integer from 0 to {len(night) - n}; pass the excerpt's first epoch "
                         "in the night.")
    return night, int(offset)


def _night_features(net, processor, rec, eog, emg) -> np.ndarray:
    """``(T, F)`` measured features of every epoch, in the order the night model reads them; bad epochs NaN (so
    they do not move the night's median)."""
    from .train.night_data import feature_names, measure

    names = list(net.config.night_feature_names or [])
    if names and names != list(feature_names()):
        raise ValueError(f"model: its night model reads the features {names}, which this version of eeg_vlm does "
                         f"not measure (it measures {list(feature_names())}); update eeg_vlm or use night_level=False.")
    spe = rec.samples_per_epoch
    epochs = rec.data[: rec.n_epochs * spe].reshape(rec.n_epochs, spe)
    # features the original rate cannot carry (e.g. gamma of a 50-Hz recording) are NaN, not an empty band's floor
    feats = measure(epochs, rec.sampling_rate, eog=eog, emg=emg, recorded_rate=rec.original_sampling_rate,
                    extractor=getattr(processor, "feature_extractor", None))
    feats[sorted(rec.bad_epochs)] = np.nan
    return feats


def _eog_emg(data, n_epochs: int, epoch_sec: float):
    """EOG and chin EMG epochs of an EDF night (None each when the file has no such channel or is not a file)."""
    if not isinstance(data, (str, os.PathLike)):
        return None, None
    from .io.eog_emg import read_eog_emg

    eog, emg, names = read_eog_emg(data, n_epochs=n_epochs, epoch_sec=epoch_sec)
    logger.info("explanations measure EOG %s and chin EMG %s", names["eog"] or "(none)", names["emg"] or "(none)")
    return eog, emg


def _check_eog_emg(eog_emg, n_epochs: int):
    if not isinstance(eog_emg, (tuple, list)) or len(eog_emg) != 2:
        raise ValueError(f"eog_emg: received {type(eog_emg).__name__}, expected a pair (eog, emg) of arrays in uV "
                         "of shape (n_epochs, samples per epoch), None for an absent channel.")
    out = []
    for name, x in zip(("eog", "emg"), eog_emg):
        if x is not None:
            x = np.asarray(x, dtype=np.float64)
            if x.ndim != 2 or x.shape[0] != n_epochs:
                raise ValueError(f"eog_emg: the {name} has shape {x.shape}, expected ({n_epochs}, samples per epoch): "
                                 "cut it into the same 30-s epochs as the EEG (or pass None for no channel).")
        out.append(x)
    return tuple(out)


def explain_epoch(data, epoch: int, **kwargs) -> str:
    """Chain-of-Thought of one epoch of a night (same arguments as :func:`stage_night`)."""
    result = stage_night(data, explain=[epoch], **kwargs)
    return result.reasoning[epoch]


__all__ = ["NightResult", "default_model_path", "explain_epoch", "load_staging_model", "sample_night_path",
           "stage_night"]
