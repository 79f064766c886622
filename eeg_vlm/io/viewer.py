"""Views of a staged night for people: the whole night (hypnogram on a clock-time axis over a spectrogram) and one
epoch as a PSG viewer draws it (EEG, EOG, chin EMG in uV with scale bars, time in seconds and clock time).

These are human views, separate from the model's input image (``EEGVLMImageProcessor.render``). Figures are built
with ``matplotlib.figure.Figure`` (no pyplot, no GUI backend), so they are safe in servers and threads::

    import eeg_vlm
    result = eeg_vlm.stage_night(eeg_vlm.sample_night_path())
    result.plot_epoch(120).savefig("epoch120.png")                     # EDFbrowser-like page of epoch 120
    from eeg_vlm.io.viewer import night_spectrogram, plot_night
    rec = eeg_vlm.io.load_recording(eeg_vlm.sample_night_path())
    plot_night(result.stages, result.probabilities, confidence=result.confidence,
               spectrogram=night_spectrogram(rec.data, rec.sampling_rate), start_datetime=rec.start_datetime)

Tests: ``python -m pytest tests/test_viewer.py -q``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from .plot import STAGE_COLORS
from .stages import UNSCORABLE, stage_runs, validate_probabilities, validate_stages

__all__ = ["LOW_CONFIDENCE", "NightSpectrogram", "epoch_signals", "night_spectrogram", "plot_epoch", "plot_night",
           "plot_result_epoch"]

#: An epoch whose largest stage probability is below this is "low confidence": shaded in the night view and
#: reached with the Space's "next low-confidence epoch". 0.6 leaves about one epoch in ten of the shipped model's
#: simulated nights to check (five stages: chance is 0.2).
LOW_CONFIDENCE = 0.6
_LEVELS = {"W": 4, "REM": 3, "N1": 2, "N2": 1, "N3": 0}  # top to bottom, as clinical hypnograms (and YASA) draw it
_LOW_COLOUR = "#f4a261"  # orange: shading of low-confidence epochs
_CURSOR_COLOUR = "#d00000"
_REFERENCE_COLOUR = "#2a9d8f"
EEG_SCALE_UV = 75.0  # EEG scale bar: the AASM slow-wave amplitude (75 uV), so an N3 wave can be judged by eye
EEG_HALF_RANGE_UV = 100.0  # EEG fixed sensitivity: +/-100 uV fills a channel's row (like 50 uV/cm on paper)


@dataclass(frozen=True)
class NightSpectrogram:
    """Power of the EEG per epoch: ``power_db`` (n_epochs, n_freqs) in dB re 1 uV^2/Hz at ``freqs_hz``."""

    freqs_hz: np.ndarray
    power_db: np.ndarray
    epoch_sec: float = 30.0


def night_spectrogram(eeg_uv, sampling_rate: float, *, epoch_sec: float = 30.0, fmin: float = 0.5,
                      fmax: float = 25.0, window_sec: float = 4.0) -> NightSpectrogram:
    """Whole-night spectrogram, one 30-s column per epoch (YASA's ``plot_spectrogram`` uses 30-s windows).

    Parameters
    ----------
    eeg_uv : array-like of shape (n_samples,)
        EEG in uV (whole epochs; a partial last epoch is ignored).
    sampling_rate : float
        Hz.
    epoch_sec : float, keyword-only
        Column width in seconds (30 s).
    fmin, fmax : float, keyword-only
        Frequency range kept, Hz (YASA's defaults: 0.5-25 Hz).
    window_sec : float, keyword-only
        Welch segment length inside each epoch, s (4 s: 0.25-Hz resolution, smooth like a multitaper estimate).
    """
    from scipy.signal import welch

    x = np.asarray(eeg_uv, dtype=np.float64)
    spe = int(round(epoch_sec * sampling_rate))
    n = x.size // spe if x.ndim == 1 else 0
    if n < 1:
        raise ValueError(f"eeg_uv: received shape {np.shape(eeg_uv)}, expected a 1-D EEG of at least one "
                         f"{epoch_sec:g}-s epoch ({spe} samples at {sampling_rate:g} Hz).")
    nperseg = min(spe, int(window_sec * sampling_rate))
    freqs, psd = welch(x[: n * spe].reshape(n, spe), fs=sampling_rate, nperseg=nperseg, axis=-1)  # (E, F)
    keep = (freqs >= fmin) & (freqs <= fmax)
    return NightSpectrogram(freqs[keep], 10 * np.log10(psd[:, keep] + 1e-6).astype(np.float32), float(epoch_sec))


def _colour_limits(power_db: np.ndarray, trim: float = 2.5) -> tuple[float, float]:
    """Colour limits at the 2.5th and 97.5th percentiles (YASA's ``trimperc``), so outliers do not wash it out."""
    finite = power_db[np.isfinite(power_db)]
    return (0.0, 1.0) if not finite.size else tuple(float(v) for v in np.percentile(finite, [trim, 100 - trim]))


def _clock_formatter(start: datetime | None, *, with_seconds: bool = False, offset: float = 0.0):
    """Tick labels for an axis in seconds (from ``offset`` s after the start): wall-clock time, or h:mm elapsed
    without a start."""
    from matplotlib.ticker import FuncFormatter

    def fmt(seconds, _pos=None):
        seconds = float(seconds) + offset
        if start is not None:
            t = start + timedelta(seconds=float(seconds))
            return t.strftime("%H:%M:%S" if with_seconds else "%H:%M")
        s = int(round(seconds))
        return f"{s // 3600}:{s % 3600 // 60:02d}" + (f":{s % 60:02d}" if with_seconds else "")

    return FuncFormatter(fmt)


def _clock_ticks(ax, start: datetime | None, total_s: float, width_px: int) -> None:
    """Ticks on whole clock hours (every 2 or 3 h when narrow), labelled with the time of day."""
    from matplotlib.ticker import FixedLocator

    hours = total_s / 3600.0
    fit = max(2, int(width_px / 75))  # a label ("23:00") needs ~75 px
    step = next(s for s in (0.25, 0.5, 1, 2, 3, 4, 6, 12, 24) if hours / s <= fit) * 3600
    offset = 0.0 if start is None else (start - start.replace(minute=0, second=0, microsecond=0)).total_seconds()
    first = (-offset) % step
    ax.xaxis.set_major_locator(FixedLocator(np.arange(first, total_s + 1e-9, step)))
    ax.xaxis.set_major_formatter(_clock_formatter(start))


def _draw_stages(ax, labels, epoch_sec: float, *, colour="k", linewidth=1.2, linestyle="-", label=None):
    n = len(labels)
    edges = np.arange(n + 1) * epoch_sec
    y = np.array([_LEVELS.get(s, np.nan) for s in labels], dtype=float)
    ax.step(edges, np.append(y, y[-1]), where="post", color=colour, linewidth=linewidth, linestyle=linestyle,
            label=label)
    return edges


def plot_night(stages: Sequence[str], probabilities=None, *, confidence=None, spectrogram: NightSpectrogram | None
               = None, start_datetime: datetime | None = None, epoch_sec: float = 30.0,
               low_confidence: float = LOW_CONFIDENCE, cursor: int | None = None,
               reference: Sequence[str | None] | None = None, reference_name: str = "reference",
               title: str | None = None, width_px: int = 1400, dpi: int = 100):
    """The whole night: hypnogram on a clock-time axis above the EEG spectrogram.

    Parameters
    ----------
    stages : sequence of str
        One label per epoch (``W N1 N2 N3 REM`` or ``UNS``, shaded grey).
    probabilities : array-like (n_epochs, 5), optional
        Stage probabilities; their largest value is the confidence when ``confidence`` is not given.
    confidence : array-like (n_epochs,), optional
        Confidence per epoch in [0, 1]; epochs below ``low_confidence`` are shaded orange.
    spectrogram : NightSpectrogram, optional
        From :func:`night_spectrogram`; drawn under the hypnogram (dB, 2.5-97.5 percentile colour limits, RdBu_r,
        as YASA's ``plot_spectrogram``).
    start_datetime : datetime, optional
        Recording start: the axis shows the time of day; without it, hours:minutes from the start.
    epoch_sec : float
        Epoch length, s.
    low_confidence : float
        Confidence threshold (:data:`LOW_CONFIDENCE`).
    cursor : int, optional
        Selected epoch: a red line on both panels.
    reference : sequence of (str or None), optional
        A second hypnogram of the same epochs (e.g. the scorer's), drawn dashed; None marks an unscored epoch.
    reference_name : str
        Legend label of ``reference``.
    title : str, optional
    width_px, dpi : int
        Figure width in pixels and resolution; fonts keep their size, so a narrow figure stays readable.

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = validate_stages(stages)
    n = len(labels)
    if confidence is None and probabilities is not None:
        p = validate_probabilities(probabilities, n)
        confidence = np.where(np.isnan(p).any(1), np.nan, np.nanmax(np.nan_to_num(p), axis=1))
    conf = None if confidence is None else np.asarray(confidence, dtype=float)
    if conf is not None and conf.shape != (n,):
        raise ValueError(f"confidence: received shape {conf.shape}, expected ({n},): one value per epoch.")
    if reference is not None and len(reference) != n:
        raise ValueError(f"reference: received {len(reference)} labels, expected {n} (one per epoch, None where "
                         "the reference did not score the epoch).")
    if cursor is not None and not 0 <= int(cursor) < n:
        raise ValueError(f"cursor: received {cursor!r}, expected an epoch from 0 to {n - 1}.")
    narrow = width_px < 700  # a phone: smaller fonts, legend on two rows, no colour bar
    with _fonts(narrow):
        fig = _plot_night(labels, conf, spectrogram, start_datetime, epoch_sec, low_confidence, cursor, reference,
                          reference_name, title, width_px, dpi, narrow)
        _tick_fonts(fig, narrow)
    return fig


def _fonts(narrow: bool):
    import matplotlib

    return matplotlib.rc_context({"font.size": 8 if narrow else 10})


def _plot_night(labels, conf, spectrogram, start_datetime, epoch_sec, low_confidence, cursor, reference,
                reference_name, title, width_px, dpi, narrow):
    from matplotlib.figure import Figure

    n = len(labels)
    heights = [2.2, 1.6] if spectrogram is not None else [2.2]
    fig = Figure(figsize=(width_px / dpi, (1.0 if narrow else 0.8) + 1.05 * sum(heights)), dpi=dpi,
                 layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False)[:, 0]
    ax = axes[0]
    total = n * epoch_sec
    edges = _draw_stages(ax, labels, epoch_sec, label="EEG-VLM" if reference is not None else None)
    for first, length, stage in stage_runs(labels):
        if stage == "REM":
            ax.hlines(_LEVELS["REM"], edges[first], edges[first + length], color=STAGE_COLORS["REM"], linewidth=4)
        elif stage == UNSCORABLE:
            ax.axvspan(edges[first], edges[first + length], color="0.8", zorder=0)
    if conf is not None:
        low = [s != UNSCORABLE and c < low_confidence for s, c in zip(labels, np.nan_to_num(conf, nan=1.0))]
        for first, length, is_low in stage_runs(["L" if x else "" for x in low]):
            if is_low:
                ax.axvspan(edges[first], edges[first + length], color=_LOW_COLOUR, alpha=0.35, linewidth=0, zorder=0)
    if reference is not None:
        ref = [s if s in _LEVELS else None for s in reference]
        y = np.array([np.nan if s is None else _LEVELS[s] for s in ref], dtype=float) + 0.12  # beside, not on
        ax.step(edges, np.append(y, y[-1]), where="post", color=_REFERENCE_COLOUR, linewidth=1.2, linestyle="--",
                label=reference_name)
    ax.set_yticks(list(_LEVELS.values()), list(_LEVELS))
    ax.set_ylim(-0.6, 4.6)
    ax.set_xlim(0, total)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylabel("" if narrow else "Stage")
    handles = []
    if conf is not None:
        from matplotlib.patches import Patch

        handles.append(Patch(color=_LOW_COLOUR, alpha=0.5, label=f"confidence < {low_confidence:.0%}"))
    if reference is not None:
        handles = ax.get_legend_handles_labels()[0] + handles
    if handles:  # above the plot, outside it: never hides the W row, also on a phone
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0),
                  ncol=min(len(handles), 2 if narrow else 3), frameon=False,
                  fontsize="small", borderaxespad=0.2)
    if spectrogram is not None:
        sax = axes[1]
        if spectrogram.power_db.shape[0] != n:
            raise ValueError(f"spectrogram: has {spectrogram.power_db.shape[0]} epochs, expected {n}.")
        vmin, vmax = _colour_limits(spectrogram.power_db)
        f = spectrogram.freqs_hz
        df = f[1] - f[0] if f.size > 1 else 1.0
        image = sax.imshow(spectrogram.power_db.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=vmin, vmax=vmax,
                           extent=(0, total, f[0] - df / 2, f[-1] + df / 2), interpolation="nearest")
        sax.set_ylabel("EEG, Hz")
        if not narrow:
            fig.colorbar(image, ax=sax, pad=0.01, fraction=0.04).set_label("dB")
    for a in axes:
        _clock_ticks(a, start_datetime, total, width_px)
        if cursor is not None:
            a.axvspan(int(cursor) * epoch_sec, (int(cursor) + 1) * epoch_sec, color=_CURSOR_COLOUR, alpha=0.25,
                      zorder=3, linewidth=0)
            a.axvline((int(cursor) + 0.5) * epoch_sec, color=_CURSOR_COLOUR, linewidth=1.5, zorder=4)
    axes[-1].set_xlabel("Clock time" if start_datetime is not None else "Time from the start (h:mm)")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def _nice(value: float) -> float:
    """The 1-2-5 number at or above ``value`` (scale bars read 20, 50, 100 uV, never 37)."""
    if not value > 0 or not np.isfinite(value):
        return 1.0
    power = 10 ** np.floor(np.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value - 1e-12))


def plot_epoch(signals, epoch: int, *, first_epoch: int = 0, epoch_sec: float = 30.0,
               stages: Sequence[str] | None = None, start_datetime: datetime | None = None,
               context_sec: float = 30.0, spectrogram_limits: tuple[float, float] | None = None,
               title: str | None = None, width_px: int = 1400, dpi: int = 100):
    """One epoch as a PSG viewer draws it: channels stacked with labels and uV scale bars, neighbours dimmed,
    time in seconds and clock time, the spectrogram of the first channel (the EEG) under it.

    Parameters
    ----------
    signals : sequence of (label, signal_uv, rate_hz)
        Channels (EEG first, then EOG / EMG) in uV, each starting at the onset of ``first_epoch``.
    epoch : int
        The epoch to show (index in the night).
    first_epoch : int, keyword-only
        Epoch at which the signals start.
    epoch_sec : float, keyword-only
        Epoch length, s.
    stages : sequence of str, optional
        Stage of each epoch of the night (labels above the page: the scored epoch and its neighbours).
    start_datetime : datetime, optional
        Recording start, for the clock-time axis on top.
    context_sec : float, keyword-only
        Seconds of each neighbour shown (30 s: the whole previous and next epochs; fewer on a narrow screen).
    spectrogram_limits : (float, float), optional
        Colour limits in dB (e.g. the night's, so pages are comparable); default: this page's 2.5-97.5 percentiles.
    title : str, optional
    width_px, dpi : int
        Figure size in pixels and resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not signals:
        raise ValueError("signals: received no channel, expected at least the EEG as (label, signal_uv, rate_hz).")
    narrow = width_px < 700
    with _fonts(narrow):
        fig = _plot_epoch(signals, int(epoch), int(first_epoch), epoch_sec, stages, start_datetime, context_sec,
                          spectrogram_limits, width_px, dpi, narrow)
        if title:
            fig.suptitle(title, fontsize="medium")
        _tick_fonts(fig, narrow)
    return fig


def _tick_fonts(fig, narrow: bool) -> None:
    """Tick labels are created when drawn: fix their size now (the font context is gone by then)."""
    for a in fig.axes:
        a.tick_params(labelsize=8 if narrow else 10)


def _plot_epoch(signals, epoch, first_epoch, epoch_sec, stages, start_datetime, context_sec, spectrogram_limits,
                width_px, dpi, narrow):
    from matplotlib.figure import Figure
    from scipy.signal import spectrogram as stft_power

    t0 = (epoch - first_epoch) * epoch_sec  # epoch onset, s from the start of the signals
    lo, hi = -min(context_sec, t0), epoch_sec + context_sec
    rows = []
    for label, x, rate in signals:
        x = np.asarray(x, dtype=np.float64)
        i0, i1 = int(round((t0 + lo) * rate)), int(round((t0 + hi) * rate))
        rows.append((str(label), x[max(i0, 0) : max(i1, 0)], float(rate), max(i0, 0) / rate - t0))
    lo = max(lo, min(start for *_, start in rows))
    hi = min(hi, max(start + seg.size / rate for _, seg, rate, start in rows))
    margin = 0.07 * (hi - lo) if not narrow else 0.16 * (hi - lo)  # right margin for the scale bars
    n_rows = len(rows)
    fig = Figure(figsize=(width_px / dpi, 1.1 + 1.05 * n_rows + 1.3), dpi=dpi, layout="constrained")
    ax, sax = fig.subplots(2, 1, sharex=True, height_ratios=[1.05 * n_rows, 1.2])
    for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):  # 1-s grid, 5-s lines darker (as on PSG paper)
        ax.axvline(k, color="0.8" if k % 5 else "0.6", linewidth=0.4 if k % 5 else 0.7, zorder=0.6)
    for span in ((lo, 0.0), (epoch_sec, hi)):
        if span[1] > span[0]:
            ax.axvspan(*span, color="0.93", zorder=0.5, linewidth=0)  # neighbours: grey page
    for r, (label, seg, rate, start) in enumerate(rows):
        centre = n_rows - 1 - r  # first channel on top
        offset = float(np.median(seg)) if seg.size else 0.0
        is_eeg = r == 0  # EEG: fixed sensitivity; EOG / EMG: scaled to what is shown, with their own bar
        half = EEG_HALF_RANGE_UV if is_eeg else _nice(2 * np.percentile(np.abs(seg - offset), 99) if seg.size else 1)
        bar = EEG_SCALE_UV if is_eeg else _nice(half / 2)
        unit = 2.2 * half  # uV per row
        t = start + np.arange(seg.size) / rate
        ax.plot(t, centre + (seg - offset) / unit, color="k" if is_eeg else "#1d3557", linewidth=0.6, zorder=2)
        if is_eeg:  # +/-37.5 uV guides: a wave spanning them is >= 75 uV peak to peak (AASM slow wave)
            for g in (-EEG_SCALE_UV / 2, EEG_SCALE_UV / 2):
                ax.axhline(centre + g / unit, color="#6a994e", linewidth=0.6, linestyle=":", zorder=0.7)
        x_bar = hi + 0.25 * margin
        ax.plot([x_bar, x_bar], [centre - bar / unit / 2, centre + bar / unit / 2], color="#c1121f", linewidth=3,
                solid_capstyle="butt", zorder=5)
        ax.text(x_bar + 0.1 * margin, centre, f"{bar:g}\nµV", ha="left", va="center", fontsize="small",
                color="#c1121f")
        ax.text(lo + 0.005 * (hi - lo), centre + 0.47, f"{label} ({rate:g} Hz)", ha="left", va="top",
                fontsize="small", fontweight="bold", zorder=6,
                bbox=dict(facecolor="white", edgecolor="0.7", alpha=0.85, pad=1.5))
    ax.set_yticks([])
    ax.set_ylim(-0.55, n_rows - 0.45)
    ax.set_xlim(lo, hi + margin)
    for k in (-1, 0, 1):  # stage of the selected epoch and of its neighbours, above the page
        e, left, right = epoch + k, max(k * epoch_sec, lo), min((k + 1) * epoch_sec, hi)
        if e < 0 or (stages is not None and e >= len(stages)) or right - left < (2 if k == 0 else 12):
            continue
        stage = "" if stages is None else f": {stages[e]}"
        ax.text((left + right) / 2, 1.0, f"epoch {e}{stage}", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontweight="bold" if k == 0 else "normal", color="k" if k == 0 else "0.45")
    top = ax.secondary_xaxis("top")  # clock time (or time from the start) of the epoch's edges
    top.xaxis.set_major_formatter(_clock_formatter(start_datetime, with_seconds=True, offset=epoch * epoch_sec))
    top.set_xticks([0.0, epoch_sec] if narrow else [v for v in (lo, 0.0, epoch_sec, hi) if lo <= v <= hi])
    top.tick_params(pad=18)
    eeg_label, eeg, eeg_rate, eeg_start = rows[0]
    nper = int(2 * eeg_rate)  # 2-s windows (0.5-Hz resolution), 1.5-s overlap: one column per 0.5 s
    if eeg.size >= nper:
        f, tt, sxx = stft_power(eeg, fs=eeg_rate, nperseg=nper, noverlap=nper * 3 // 4)
        keep = (f >= 0.5) & (f <= 25)
        power = 10 * np.log10(sxx[keep] + 1e-6)
        vmin, vmax = spectrogram_limits or _colour_limits(power)
        mesh = sax.pcolormesh(eeg_start + tt, f[keep], power, cmap="RdBu_r", vmin=vmin, vmax=vmax, shading="auto")
        if not narrow:
            fig.colorbar(mesh, ax=sax, pad=0.01, fraction=0.03).set_label("dB")
    for edge in (0.0, epoch_sec):
        for a in (ax, sax):
            a.axvline(edge, color="#023047", linewidth=1.4, zorder=4)
    sax.set_ylabel(f"{eeg_label}, Hz" if not narrow else "Hz")
    sax.set_xlabel(f"Seconds from the onset of epoch {epoch}")
    sax.set_xticks(np.arange(np.ceil(lo / 5) * 5, hi + 1e-9, 5 if not narrow else 10))
    return fig


def epoch_signals(data, epoch: int, *, channel=None, context: int = 1, epoch_sec: float = 30.0):
    """The EEG (100 Hz) and, from an EDF, its EOG and chin EMG around one epoch, for :func:`plot_epoch`.

    Parameters
    ----------
    data : str, Path, mne.io.BaseRaw or numpy.ndarray
        The night, as for :func:`eeg_vlm.io.load_recording` (EOG/EMG are read only from an EDF path).
    epoch : int
        Epoch index.
    channel : str or int, optional
        EEG channel (default: the preference list, as staging).
    context : int, keyword-only
        Neighbouring epochs on each side (fewer at the edges of the night).
    epoch_sec : float, keyword-only

    Returns
    -------
    signals : list of (label, signal_uv, rate_hz)
    first_epoch : int
    n_epochs : int
        Epochs in the night.
    start_datetime : datetime or None
    """
    import os

    from .eog_emg import read_eog_emg
    from .read import load_recording

    rec = load_recording(data, channel=channel, epoch_sec=epoch_sec)
    n = rec.n_epochs
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 0 <= epoch < n:
        raise ValueError(f"epoch: received {epoch!r}, expected a whole number from 0 to {n - 1} "
                         f"(this night has {n} epochs of {epoch_sec:g} s).")
    first, last = max(0, epoch - context), min(n, epoch + context + 1)
    spe = rec.samples_per_epoch
    signals = [(rec.channel_name, rec.data[first * spe : last * spe], rec.sampling_rate)]
    if isinstance(data, (str, os.PathLike)):
        eog, emg, names = read_eog_emg(data, n_epochs=n, epoch_sec=epoch_sec)
        for kind, x in (("eog", eog), ("emg", emg)):
            if x is not None:
                signals.append((names[kind], x[first:last].reshape(-1), x.shape[1] / epoch_sec))
    return signals, first, n, rec.start_datetime


def plot_result_epoch(result, epoch: int, *, data=None, context: int = 1, **options):
    """:func:`plot_epoch` of one epoch of a ``NightResult``, re-reading its recording (``data``, default the file it
    was staged from). ``options`` go to :func:`plot_epoch` (``width_px``, ``context_sec``, ``title`` ...)."""
    source = result.source if data is None else data
    if data is None and (not source or source == "array" or source.startswith("mne.io.Raw")):
        raise ValueError(f"data: this night was staged from {source or 'an array'!r}, so its signal is not on disk; "
                         "pass the same array or Raw again: result.plot_epoch(i, data=x).")
    signals, first, n, start = epoch_signals(source, epoch, channel=result.channel or None, context=context,
                                             epoch_sec=result.epoch_sec)
    if n != len(result):
        raise ValueError(f"data: has {n} epochs, but this result has {len(result)}; pass the recording it staged.")
    options.setdefault("title", f"{result.channel}, epoch {epoch}: {result.stages[epoch]}")
    return plot_epoch(signals, epoch, first_epoch=first, epoch_sec=result.epoch_sec, stages=result.stages,
                      start_datetime=start if start is not None else result.start_datetime, **options)
