"""Hypnogram figure: stage step plot (REM highlighted) above stacked stage-probability bands.

Builds a ``matplotlib.figure.Figure`` directly (no ``pyplot``): no GUI backend is touched, no
window opens, nothing is registered globally, so it is safe in servers, tests and threads.
Save it with ``fig.savefig("night.png")`` or :func:`eeg_vlm.io.write_hypnogram_png`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .stages import STAGES, UNSCORABLE, stage_runs, validate_probabilities, validate_stages

__all__ = ["plot_hypnogram", "STAGE_COLORS"]

#: Colours per stage (W, N1, N2, N3, REM), shared by the step plot and the bands.
STAGE_COLORS = {"W": "#e9c46a", "N1": "#8ecae6", "N2": "#219ebc", "N3": "#023047", "REM": "#d62828"}
# Vertical order of the hypnogram, top to bottom (the clinical convention, as YASA draws it).
_LEVELS = {"W": 4, "REM": 3, "N1": 2, "N2": 1, "N3": 0}


def _time_axis(ax, hours: float, start_datetime) -> None:
    """x axis in hours from the start, labelled with the wall-clock time when the start is known."""
    ax.set_xlim(0, hours)
    if start_datetime is None:
        ax.set_xlabel("Time from the start (h)")
        return
    from datetime import timedelta

    from matplotlib.ticker import FixedLocator, FuncFormatter

    step = 1.0 if hours <= 12 else 2.0  # a tick per clock hour, every other hour for long recordings
    first = (3600 - (start_datetime.minute * 60 + start_datetime.second)) % 3600 / 3600.0  # next whole hour
    ticks = np.arange(first, hours + 1e-9, step)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda h, _: (start_datetime + timedelta(hours=float(h))).strftime("%H:%M")))
    ax.set_xlabel(f"Clock time (start {start_datetime:%Y-%m-%d %H:%M:%S})")


def _draw_hypnogram(ax, labels: list[str], epoch_sec: float) -> None:
    n = len(labels)
    edges = np.arange(n + 1) * epoch_sec / 3600.0  # hours
    y = np.array([_LEVELS.get(s, np.nan) for s in labels], dtype=float)
    ax.step(edges, np.append(y, y[-1]), where="post", color="k", linewidth=1.0)
    for first, length, stage in stage_runs(labels):
        start, end = edges[first], edges[first + length]
        if stage == "REM":
            ax.hlines(_LEVELS["REM"], start, end, color=STAGE_COLORS["REM"], linewidth=4)
        elif stage == UNSCORABLE:
            ax.axvspan(start, end, color="0.85", zorder=0, label=None)
    ax.set_yticks(sorted(_LEVELS.values()), [s for s, _ in sorted(_LEVELS.items(), key=lambda kv: kv[1])])
    ax.set_ylim(-0.5, 4.5)
    ax.set_ylabel("Stage")
    ax.grid(axis="y", alpha=0.3)


def _draw_probabilities(ax, p: np.ndarray, epoch_sec: float) -> None:
    n = p.shape[0]
    edges = np.arange(n + 1) * epoch_sec / 3600.0
    filled = np.nan_to_num(p, nan=0.0)  # unscored epochs: an empty band
    filled = np.vstack([filled, filled[-1:]])  # repeat the last row so 'post' steps reach the end
    ax.stackplot(edges, filled.T, labels=list(STAGES), step="post",
                 colors=[STAGE_COLORS[s] for s in STAGES], linewidth=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)


def plot_hypnogram(
    stages: Sequence[str],
    probabilities=None,
    *,
    epoch_sec: float = 30.0,
    ax=None,
    title: str | None = None,
    start_datetime=None,
):
    """Plot a hypnogram and, optionally, its stage probabilities.

    Parameters
    ----------
    stages : sequence of str
        One label per epoch: ``W N1 N2 N3 REM`` or ``UNS`` (unscorable, shaded grey).
    probabilities : array-like of shape (n_epochs, 5) or None
        Stage probabilities (columns W, N1, N2, N3, REM), drawn as stacked bands below.
    epoch_sec : float
        Epoch length in seconds (30 s).
    ax : matplotlib Axes, pair of Axes, or None
        ``None`` (default) creates a new figure. One Axes receives the hypnogram only (then
        ``probabilities`` must be None); a pair ``(ax_hypnogram, ax_probabilities)`` receives both.
    title : str or None
        Title above the hypnogram.
    start_datetime : datetime.datetime or None
        Wall-clock start of the first epoch: the x axis then reads clock time (HH:MM, a tick per hour);
        None: hours from the start.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes. Nothing is shown (no ``plt.show``).
    """
    labels = validate_stages(stages)
    if isinstance(epoch_sec, bool) or not isinstance(epoch_sec, (int, float)) or not epoch_sec > 0:
        raise ValueError(f"epoch_sec: expected a positive number of seconds, got {epoch_sec!r}.")
    p = None if probabilities is None else validate_probabilities(probabilities, len(labels))
    if ax is None:
        from matplotlib.figure import Figure  # lazy: matplotlib only when plotting

        if p is None:
            fig = Figure(figsize=(10, 3), layout="constrained")
            axes = [fig.subplots()]
        else:
            fig = Figure(figsize=(10, 5), layout="constrained")
            axes = list(fig.subplots(2, 1, sharex=True, height_ratios=[3, 2]))
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        wanted = 1 if p is None else 2
        if len(axes) != wanted:
            raise ValueError(
                f"ax: expected {'one Axes' if wanted == 1 else 'a pair of Axes (hypnogram, probabilities)'}"
                f" {'without' if wanted == 1 else 'with'} probabilities, got {len(axes)} Axes. Pass "
                f"ax=None to create a new figure."
            )
        fig = axes[0].figure
    hours = len(labels) * epoch_sec / 3600.0
    _draw_hypnogram(axes[0], labels, epoch_sec)
    _time_axis(axes[0], hours, start_datetime)
    if p is not None:
        axes[0].set_xlabel("")
        _draw_probabilities(axes[1], p, epoch_sec)
        _time_axis(axes[1], hours, start_datetime)
    if title:
        axes[0].set_title(title)
    return fig
