"""The two EEG-to-image layouts of :class:`~eeg_vlm.EEGVLMImageProcessor`, as vectorised numpy rasterisers.

``trace`` (the layout of every model saved before the spectral one existed): the epoch and its dimmed neighbours
on one line at 0.25 s/px. At that scale alpha, theta and spindles are several cycles per pixel column and come
out as one filled envelope.

``spectral`` (the default of new processors), top to bottom::

    EEG   the scored 30-s epoch wrapped into rows of ``row_seconds`` (6 s across 224 px: 37 px/s, 3.1 px per
          12-Hz cycle), each row at ``uv_per_pixel`` with +/-37.5-uV guides and a 1-s grid
    EOG   the scored epoch at ``eog_uv_per_pixel`` (blank when the night has no EOG)
    EMG   the chin-EMG level per column on a log scale ``emg_uv_range`` (blank when the night has no EMG)
    SPEC  log power 0.5-30 Hz (log-frequency rows, fixed dB scale ``spectrogram_db``) of the first EEG channel
          over the epoch with its neighbours, the scored epoch between two white marks

Every pixel column of a trace takes the min/max of the samples that fall in it (plus the previous sample, so
the trace stays connected). Deterministic: the same input always gives the same bytes. This file is part of the
Hub remote-code unit (imported by ``image_processing_eeg_vlm.py``): it imports only installed libraries.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# RGB colours of the drawing (uint8)
BACKGROUND = (255, 255, 255)
GRID = (222, 230, 242)  # 1-s grid: light blue, like paper EEG
EPOCH_EDGE = (150, 150, 170)  # boundaries of the scored epoch
AMPLITUDE_GUIDE = (246, 214, 214)  # +/- 37.5 uV: a wave crossing both lines is >= 75 uV peak-to-peak
TRACE = (0, 0, 0)
CONTEXT_TRACE = (150, 150, 150)  # neighbouring epochs, dimmed
EOG_TRACE = (20, 60, 160)  # blue, as EOG is often drawn in PSG viewers
EMG_FILL = (170, 40, 40)
BAND_EDGE = (200, 200, 200)  # the line between two bands of the spectral layout
# spectrogram colour map (low -> high power): black, blue, magenta, orange, pale yellow ("inferno"-like)
_CMAP_ANCHORS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                          [250, 193, 39], [252, 255, 164]], dtype=np.float64)


@lru_cache(maxsize=1)
def _colormap() -> np.ndarray:
    """(256, 3) uint8 lookup table interpolated between the anchors."""
    pos = np.linspace(0, 1, len(_CMAP_ANCHORS))
    t = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(t, pos, _CMAP_ANCHORS[:, k]) for k in range(3)], axis=-1)
    return np.round(lut).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- trace layout
@lru_cache(maxsize=32)
def _trace_template(size: int, n_ch: int, spp: float, uvpp: float, left: int, width: int, grid_s: float):
    """Background with grid, amplitude guides and epoch edges: (H, W, 3) uint8 (cached, read-only)."""
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    t = (np.arange(size) - left) * spp  # time of each column relative to the epoch start (s)
    grid_cols = np.nonzero(np.diff(np.floor(t / grid_s)) != 0)[0] + 1
    img[:, grid_cols] = GRID
    band = size // n_ch
    guide = int(round(37.5 / uvpp))
    for c in range(n_ch):
        mid = c * band + band // 2
        for row in (mid - guide, mid + guide):
            if c * band <= row < (c + 1) * band:
                img[row, :] = AMPLITUDE_GUIDE
    img[:, [left - 1 if left else 0, min(left + width, size - 1)]] = EPOCH_EDGE
    img.setflags(write=False)
    return img


def render_trace(batch: np.ndarray, fs: float, *, size: int, spp: float, uvpp: float, left: int, width: int,
                 grid_s: float, ctx_samples: float) -> np.ndarray:
    """The ``trace`` layout: (B, C, S) float32 in uV with context -> (B, size, size, 3) uint8."""
    b, n_ch, n_s = batch.shape
    # sample index at the left edge of every column (window centred on the scored epoch)
    edges = ctx_samples + (np.arange(size + 1) - left) * spp * fs
    edges = np.clip(np.round(edges).astype(np.int64), 0, n_s)
    valid = edges[1:] > edges[:-1]  # columns outside the signal stay empty
    starts = np.minimum(edges[:-1], n_s - 1)
    lo = np.minimum.reduceat(batch, starts, axis=-1)  # (B, C, W)
    hi = np.maximum.reduceat(batch, starts, axis=-1)  # (B, C, W)
    prev = batch[..., np.maximum(starts - 1, 0)]  # (B, C, W): joins each column to the previous one
    lo, hi = np.minimum(lo, prev), np.maximum(hi, prev)
    band = size // n_ch
    mid = (np.arange(n_ch) * band + band // 2)[None, :, None]  # (1, C, 1)
    # rows grow downwards: positive voltage up (upward = positive, as in most sleep software)
    band_top = mid - band // 2  # (1, C, 1)
    top = np.clip(np.floor(mid - hi / uvpp), band_top, band_top + band - 1).astype(np.int16)
    bot = np.clip(np.ceil(mid - lo / uvpp), band_top, band_top + band - 1).astype(np.int16)
    top[..., ~valid], bot[..., ~valid] = -1, -1  # span 0 starting above row 0: nothing drawn outside the signal
    template = _trace_template(size, n_ch, spp, uvpp, left, width, grid_s)
    cols = np.arange(size)
    scored = (cols >= left) & (cols < left + width)
    ink = np.where(scored[:, None], np.array(TRACE, np.uint8), np.array(CONTEXT_TRACE, np.uint8))  # (W, 3)
    rows = np.arange(size, dtype=np.int16)[None, :, None]  # (1, H, 1)
    out = np.empty((b, size, size, 3), dtype=np.uint8)  # (B, H, W, 3)
    chunk = 32  # epochs per pass: keeps the (chunk, H, W) masks in cache, ~2x faster than one big pass
    for i in range(0, b, chunk):
        t, bt = top[i : i + chunk], bot[i : i + chunk]
        mask = np.zeros((len(t), size, size), dtype=bool)  # (b, H, W)
        for c in range(n_ch):
            # one unsigned comparison: 0 <= row - top <= bot - top (negative differences wrap to large values)
            span = (bt[:, c] - t[:, c]).astype(np.uint16)[:, None, :]  # (b, 1, W)
            mask |= (rows - t[:, c][:, None, :]).astype(np.uint16) <= span
        np.copyto(out[i : i + chunk], template[None])
        np.copyto(out[i : i + chunk], ink[None, None], where=mask[..., None])
    return out


# ------------------------------------------------------------------------------------------- spectral layout
def column_spans(x: np.ndarray, fs: float, seconds_per_column: float, width: int):
    """Min/max of ``x`` (..., S) over ``width`` columns of ``seconds_per_column`` from sample 0.

    Returns ``lo, hi`` (..., W) and ``valid`` (W,): columns past the end of ``x`` are not valid.
    """
    n_s = x.shape[-1]
    edges = np.clip(np.round(np.arange(width + 1) * seconds_per_column * fs).astype(np.int64), 0, n_s)
    valid = edges[1:] > edges[:-1]
    starts = np.minimum(edges[:-1], n_s - 1)
    lo = np.minimum.reduceat(x, starts, axis=-1)  # (..., W)
    hi = np.maximum.reduceat(x, starts, axis=-1)  # (..., W)
    prev = x[..., np.maximum(starts - 1, 0)]  # joins each column to the previous one
    return np.minimum(lo, prev), np.maximum(hi, prev), valid


def paint_spans(image: np.ndarray, top: np.ndarray, bot: np.ndarray, ink) -> None:
    """Ink rows ``top..bot`` (inclusive) of every column of ``image`` (B, H, W, 3, C-contiguous) in place;
    ``top``/``bot`` (B, W) or (B, K, W) int (K spans per column), a span with ``bot < top`` is left blank. Only the
    inked pixels are written (a few per column), several times faster than a masked copy of the whole region."""
    b, h, w, _ = image.shape
    top, bot = top.reshape(b, -1, w).astype(np.int64), bot.reshape(b, -1, w)  # (B, K, W)
    lengths = np.maximum(bot - top + 1, 0).ravel()  # (B * K * W,)
    total = int(lengths.sum())
    if not total:
        return
    start = ((np.arange(b)[:, None, None] * h + top) * w + np.arange(w)).ravel()  # flat pixel of each top
    first = np.cumsum(lengths) - lengths  # position of each span's first pixel in the flat list
    step = np.arange(total) - np.repeat(first, lengths)  # 0, 1, ... within each span
    flat = np.repeat(start, lengths) + step * w  # one row down = w pixels further
    image.reshape(-1, 3)[flat] = np.array(ink, np.uint8)  # a view: image is contiguous


def paint_traces(image: np.ndarray, row0: int, height: int, lo: np.ndarray, hi: np.ndarray, valid: np.ndarray,
                 uvpp: float, ink) -> None:
    """Draw K traces into K equal bands of rows ``row0 .. row0 + height`` of ``image`` (B, H, W, 3) in place;
    ``lo``/``hi`` (B, K, W) in uV, ``valid`` (W,) or (K, W): columns drawn."""
    k = lo.shape[1]
    band = height // k
    half = band // 2
    # rows within each band; rows grow downwards: positive voltage up
    top = np.clip(np.floor(half - hi / uvpp), 0, band - 1).astype(np.int64)  # (B, K, W)
    bot = np.clip(np.ceil(half - lo / uvpp), 0, band - 1).astype(np.int64)
    bot[:, ~np.broadcast_to(valid, bot.shape[1:])] = -1  # bot < top: not drawn
    offset = (row0 + np.arange(k) * band)[None, :, None]  # (1, K, 1): first row of each band
    paint_spans(image, top + offset, bot + offset, ink)


@lru_cache(maxsize=16)
def _frequency_matrix(n_fft: int, fs: float, f_lo: float, f_hi: float, n_rows: int) -> np.ndarray:
    """(n_bins, n_rows) averaging matrix: row r (top = highest) = mean power of the FFT bins in its log-spaced
    band, or the nearest bin when the band is narrower than the bin spacing."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / fs)
    bounds = np.geomspace(f_lo, f_hi, n_rows + 1)
    m = np.zeros((len(freqs), n_rows), np.float32)
    for r in range(n_rows):
        sel = np.nonzero((freqs >= bounds[r]) & (freqs < bounds[r + 1]))[0]
        if not len(sel):
            sel = [int(np.argmin(np.abs(freqs - np.sqrt(bounds[r] * bounds[r + 1]))))]
        m[sel, r] = 1.0 / len(sel)
    return m[:, ::-1].copy()  # high frequencies at the top of the strip


def spectrogram_db(x: np.ndarray, fs: float, *, width: int, window_seconds: float, f_range, n_rows: int,
                   hop_seconds: float = 1.0):
    """Log power of ``x`` (B, S) in dB re 1 uV^2/Hz: (B, n_rows, width).

    Hann windows of ``window_seconds`` every ``hop_seconds`` (default 1 s: 50 % overlap at 2 s, as Welch);
    each column shows the window nearest to its centre.
    """
    b, n_s = x.shape
    n_fft = max(8, int(round(window_seconds * fs)))
    hop = max(1, int(round(hop_seconds * fs)))
    padded = np.pad(x.astype(np.float32), ((0, 0), (n_fft // 2, n_fft // 2)))  # zeros beyond the ends
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]  # (B, F, n_fft), a view
    win = np.hanning(n_fft).astype(np.float32)
    spec = np.fft.rfft((frames - frames.mean(axis=-1, keepdims=True)) * win, axis=-1)  # (B, F, n_bins)
    power = (spec.real**2 + spec.imag**2).astype(np.float32) * np.float32(2.0 / (fs * float((win**2).sum())))
    rows = power @ _frequency_matrix(n_fft, float(fs), float(f_range[0]), float(f_range[1]), n_rows)  # (B, F, R)
    db = 10 * np.log10(np.maximum(rows, 1e-12))
    centres = (np.arange(width) + 0.5) * n_s / width  # sample at each column's centre
    nearest = np.clip(np.round(centres / hop).astype(np.int64), 0, db.shape[1] - 1)  # frame k is centred at k * hop
    return db[:, nearest].transpose(0, 2, 1)  # (B, R, W)


@lru_cache(maxsize=16)
def _spectral_template(size: int, geometry: tuple, n_ch: int, row_seconds: float, uvpp: float, grid_s: float,
                       epoch_seconds: float):
    """Background of the spectral layout (bands, grid, guides): (H, W, 3) uint8 (cached, read-only)."""
    eeg_h, eog_h, emg_h, spec_h = geometry
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    t = np.arange(size) * row_seconds / size
    grid_cols = np.nonzero(np.diff(np.floor(t / grid_s)) != 0)[0] + 1
    img[: eeg_h + eog_h, grid_cols] = GRID
    n_bands = n_rows_for(row_seconds, epoch_seconds) * n_ch
    band = eeg_h // n_bands
    guide = int(round(37.5 / uvpp))
    for k in range(n_bands):
        mid = k * band + band // 2
        for row in (mid - guide, mid + guide):
            if k * band < row < (k + 1) * band:
                img[row, :] = AMPLITUDE_GUIDE
        if k and k % n_ch == 0:
            img[k * band, :] = BAND_EDGE  # between two time rows (not between channels of one row)
    for edge in (eeg_h, eeg_h + eog_h, eeg_h + eog_h + emg_h):
        if 0 < edge < size and (edge < eeg_h + eog_h + emg_h or spec_h == 0):
            img[edge - 1, :] = BAND_EDGE
    img.setflags(write=False)
    return img


def n_rows_for(row_seconds: float, epoch_seconds: float = 30.0) -> int:
    """Rows the scored epoch is wrapped into."""
    return int(np.ceil(epoch_seconds / row_seconds - 1e-9))


def render_spectral(batch: np.ndarray, fs: float, *, size: int, geometry: tuple, row_seconds: float, uvpp: float,
                    grid_s: float, epoch_seconds: float, ctx_samples: int, eog=None, eog_fs=None,
                    eog_uvpp: float = 10.0, emg=None, emg_fs=None, emg_range=(0.1, 30.0), spec_window: float = 2.0,
                    spec_hz=(0.5, 30.0), spec_db=(-20.0, 35.0)) -> np.ndarray:
    """The ``spectral`` layout: (B, C, S) float32 in uV with context -> (B, size, size, 3) uint8.

    ``geometry`` is ``(eeg_height, eog_height, emg_height, spectrogram_height)`` in px; ``eog``/``emg`` are
    (B, samples of the scored epoch) at ``eog_fs``/``emg_fs`` Hz, or None (their band stays blank).
    """
    b, n_ch, n_s = batch.shape
    chunk = 32  # epochs per pass: bounds the temporaries (FFT frames, span indices) and keeps them in cache
    if b > chunk:
        out = np.empty((b, size, size, 3), dtype=np.uint8)  # (B, H, W, 3)
        for i in range(0, b, chunk):
            out[i : i + chunk] = render_spectral(
                batch[i : i + chunk], fs, size=size, geometry=geometry, row_seconds=row_seconds, uvpp=uvpp,
                grid_s=grid_s, epoch_seconds=epoch_seconds, ctx_samples=ctx_samples,
                eog=None if eog is None else eog[i : i + chunk], eog_fs=eog_fs, eog_uvpp=eog_uvpp,
                emg=None if emg is None else emg[i : i + chunk], emg_fs=emg_fs, emg_range=emg_range,
                spec_window=spec_window, spec_hz=spec_hz, spec_db=spec_db)
        return out
    eeg_h, eog_h, emg_h, spec_h = geometry
    n_rows = n_rows_for(row_seconds, epoch_seconds)
    epoch_n = int(round(epoch_seconds * fs))
    scored = batch[..., ctx_samples : ctx_samples + epoch_n]  # (B, C, E)
    row_n = int(round(row_seconds * fs))
    pad = n_rows * row_n - epoch_n
    if pad > 0:  # the last row is partial: zeros past the epoch end, masked below
        scored = np.concatenate([scored, np.zeros(scored.shape[:2] + (pad,), np.float32)], axis=-1)
    rows = scored.reshape(b, n_ch, n_rows, row_n).transpose(0, 2, 1, 3)  # (B, R, C, row_n)
    rows = rows.reshape(b, n_rows * n_ch, row_n)  # (B, R * C, row_n): each time row holds all channels in turn
    lo, hi, valid = column_spans(rows, fs, row_seconds / size, size)
    valid = np.broadcast_to(valid, (n_rows * n_ch, size)).copy()  # (R * C, W)
    if pad > 0:  # columns of the partial last row beyond the epoch end stay empty
        end_col = int(np.ceil((epoch_n - (n_rows - 1) * row_n) / row_n * size))
        valid[-n_ch:, end_col:] = False
    out = np.empty((b, size, size, 3), dtype=np.uint8)  # (B, H, W, 3)
    np.copyto(out, _spectral_template(size, geometry, n_ch, row_seconds, uvpp, grid_s, epoch_seconds)[None])
    band = eeg_h // (n_rows * n_ch)
    paint_traces(out, 0, band * n_rows * n_ch, lo, hi, valid, uvpp, TRACE)
    if eog is not None and eog_h:
        lo, hi, valid = column_spans(eog[:, None], eog_fs, epoch_seconds / size, size)
        paint_traces(out, eeg_h, eog_h, lo, hi, valid, eog_uvpp, EOG_TRACE)
    if emg is not None and emg_h:
        _paint_emg(out, eeg_h + eog_h, emg_h, emg, emg_fs, epoch_seconds / size, emg_range)
    if spec_h:
        db = spectrogram_db(batch[:, 0], fs, width=size, window_seconds=spec_window, f_range=spec_hz,
                            n_rows=spec_h)  # (B, R, W)
        level = np.clip((db - spec_db[0]) / (spec_db[1] - spec_db[0]), 0, 1)
        out[:, size - spec_h :] = np.take(_colormap(), np.round(level * 255).astype(np.uint8), axis=0)
        for sample in (ctx_samples, ctx_samples + epoch_n):  # the scored epoch between two marks
            col = int(round(sample / n_s * size))
            if 0 < col < size:
                out[:, size - spec_h :, min(col, size - 1)] = BACKGROUND
    return out


def _paint_emg(image: np.ndarray, row0: int, h: int, emg: np.ndarray, emg_fs: float, seconds_per_column: float,
               emg_range) -> None:
    """Chin-EMG level per column as a bar up from the bottom of rows ``row0 .. row0 + h`` of ``image`` (B, H, W,
    3), on the log scale ``emg_range`` uV.

    An EMG sampled at >= 50 Hz is the raw signal: its level is the RMS in the column. Below 50 Hz it is already
    an envelope (Sleep-EDFx stores a 1-Hz one): its level is the mean value in the column.
    """
    b, w = image.shape[0], image.shape[2]
    n_s = emg.shape[-1]
    edges = np.clip(np.round(np.arange(w + 1) * seconds_per_column * emg_fs).astype(np.int64), 0, n_s)
    take = np.minimum(np.maximum(edges[:-1], 0), n_s - 1)
    cnt = np.maximum(edges[1:] - edges[:-1], 1)
    if emg_fs >= 50:
        centred = emg - emg.mean(axis=-1, keepdims=True)
        csum = np.concatenate([np.zeros((b, 1)), np.cumsum(centred.astype(np.float64) ** 2, axis=-1)], axis=-1)
        level = np.sqrt(np.maximum(csum[:, edges[1:]] - csum[:, edges[:-1]], 0) / cnt)
        level = np.where(edges[1:] > edges[:-1], level, np.abs(centred[:, take]))
    else:
        level = np.abs(emg[:, take]).astype(np.float64)  # (B, W): the envelope value under each column
    lo, hi = np.log10(emg_range[0]), np.log10(emg_range[1])
    frac = np.clip((np.log10(np.maximum(level, 1e-6)) - lo) / (hi - lo), 0, 1)  # (B, W)
    height = np.round(frac * h).astype(np.int64)  # bar height in px, (B, W)
    paint_spans(image, row0 + h - height, np.full_like(height, row0 + h - 1), EMG_FILL)


def epochs_with_context(signal, sampling_rate: float, context_epochs: int, *, epoch_seconds: float = 30.0):
    """Cut a continuous recording into epochs, each with ``context_epochs`` neighbours on both sides.

    Parameters
    ----------
    signal : array_like
        ``(n_samples,)`` or ``(n_channels, n_samples)`` in uV; a trailing partial epoch is ignored.
    sampling_rate : float
        Hz.
    context_epochs : int
        Neighbours per side. Before the first and after the last epoch the context is zeros (a flat line).

    Returns
    -------
    np.ndarray
        ``(n_epochs, n_channels, (1 + 2 * context_epochs) * epoch_samples)`` float32 (a copy; input untouched).
    """
    x = np.asarray(signal, dtype=np.float32)
    x = x[None] if x.ndim == 1 else x
    n = int(round(epoch_seconds * sampling_rate))
    n_epochs = x.shape[-1] // n
    if n_epochs < 1:
        raise ValueError(
            f"signal: received {x.shape[-1]} samples, expected at least one {epoch_seconds:g}-s epoch ({n} samples)."
        )
    pad = np.zeros((x.shape[0], context_epochs * n), np.float32)
    padded = np.concatenate([pad, x[:, : n_epochs * n], pad], axis=-1)  # (C, (n_epochs + 2c) * n)
    win = (1 + 2 * context_epochs) * n
    idx = np.arange(n_epochs)[:, None] * n + np.arange(win)[None]  # (E, win)
    return padded[:, idx].transpose(1, 0, 2).copy()  # (E, C, win)
