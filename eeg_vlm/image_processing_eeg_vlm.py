"""EEG-to-image processor: one 30-s epoch (+ its neighbours) drawn at fixed physical scales stored in the config.

Two layouts (``layout=``, drawn by ``rendering_eeg_vlm.py``, vectorised numpy, no matplotlib): ``"spectral"``
(default of new processors) wraps the scored epoch into rows where alpha, theta and spindles are resolved and adds
EOG, chin-EMG and a 0.5-30 Hz log-power strip of the epoch with its neighbours; ``"trace"`` draws the epoch and its
dimmed neighbours on one line at 0.25 s/px (every processor saved before the spectral layout existed loads as
``"trace"``, so saved models render as trained). Deterministic: the same input always gives the same bytes.

Measure its speed against a matplotlib baseline::

    python benchmarks/render.py

This file is part of the Hub remote-code unit: it imports only installed libraries and ``rendering_eeg_vlm``.
"""

from __future__ import annotations

import logging

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .image_inputs_eeg_vlm import MIN_SAMPLING_RATE, eeg_batch, images_to_array, square_side, validate_aux
from .rendering_eeg_vlm import TRACE, epochs_with_context, n_rows_for, render_spectral, render_trace  # noqa: F401

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
LAYOUTS = ("spectral", "trace")
MIN_PX_PER_SECOND = 36.0  # 3 px per cycle at 12 Hz: alpha and spindles stay waves, not a filled envelope
# the spectral layout's own options: None under the trace layout (and the trace's seconds_per_pixel under it)
_SPECTRAL_DEFAULTS = dict(row_seconds=6.0, eog_uv_per_pixel=10.0, emg_uv_range=[0.1, 30.0],
                          spectrogram_hz=[0.5, 30.0], spectrogram_db=[-20.0, 35.0], spectrogram_window_seconds=2.0)
# band heights of the spectral layout at 224 px (scaled with the image side): EEG rows get the rest
_HEIGHTS_224 = dict(eog_height=24, emg_height=12, spectrogram_height=48)


class EEGVLMImageProcessorKwargs(ImagesKwargs, total=False):
    """Options of :class:`EEGVLMImageProcessor` beyond transformers' ``ImagesKwargs`` (set at construction)."""

    layout: str
    seconds_per_pixel: float
    uv_per_pixel: float
    row_seconds: float
    context_epochs: int
    epoch_seconds: float
    grid_seconds: float


# Standard ImagesKwargs this processor cannot apply: refused with a ValueError rather than silently ignored
_REFUSED = {
    "do_center_crop": "a rendered epoch is drawn to the full square; cropping would cut the time axis",
    "crop_size": "a rendered epoch is drawn to the full square; cropping would cut the time axis",
    "do_pad": "every image is resized to the square `size`, so there is nothing to pad",
    "pad_size": "every image is resized to the square `size`, so there is nothing to pad",
}
# Standard options honoured per call (they override the attributes of the same name for that call)
_PER_CALL = ("do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean",
             "image_std", "do_convert_rgb")


class EEGVLMImageProcessor(BaseImageProcessor):
    r"""
    Render EEG epochs to images for EEG-VLM, or pass through already-rendered images.

    Parameters
    ----------
    size : dict or int
        The square output image, ``{"height": s, "width": s}`` in pixels (must equal the CLIP tower's
        ``image_size``); an int ``s`` (older saved processors) is read as the same square. Default 224.
    layout : {"spectral", "trace"}
        ``"spectral"`` (default): the scored epoch wrapped into rows of ``row_seconds`` (one band per EEG channel
        in each row), then an EOG band, a chin-EMG band and a log-power strip of the epoch with its neighbours.
        ``"trace"``: the epoch and its dimmed neighbours on one line at ``seconds_per_pixel``. When ``layout`` is
        omitted and ``seconds_per_pixel`` is given, as in every processor saved before the spectral layout
        existed, the layout is ``"trace"``: saved models keep rendering as trained.
    seconds_per_pixel : float
        ``trace`` only: time scale. Default 0.25 s/px: a 30-s epoch spans 120 px, leaving 52 px (13 s) of each
        neighbour visible.
    uv_per_pixel : float
        Amplitude scale of the EEG in uV per pixel. Default 2.0 (``trace``: a channel band of 224 px shows
        +/- 224 uV) or 5.0 (``spectral``: a 28-px row shows +/- 70 uV, a 75-uV slow wave spans 15 px).
    row_seconds : float
        ``spectral`` only: seconds of EEG per row across the full width. Default 6.0: 5 rows, 37 px/s at 224 px
        (3.1 px per 12-Hz cycle). A warning is logged below 36 px/s (alpha and spindles would blur).
    eog_uv_per_pixel : float
        ``spectral`` only: EOG amplitude scale, default 10 uV/px (a 24-px band shows +/- 120 uV).
    emg_uv_range : [float, float]
        ``spectral`` only: chin-EMG level (RMS of raw EMG at >= 50 Hz, the value of an envelope below) mapped
        on a log scale from an empty to a full band. Default [0.1, 30] uV.
    spectrogram_hz : [float, float]
        ``spectral`` only: frequency range of the strip (log-spaced rows, high at the top). Default [0.5, 30] Hz.
    spectrogram_db : [float, float]
        ``spectral`` only: power in dB re 1 uV^2/Hz mapped from the darkest to the brightest colour.
        Default [-20, 35] (1st to 99th percentile of Fpz-Cz power 0.5-30 Hz in Sleep-EDF-like nights).
    spectrogram_window_seconds : float
        ``spectral`` only: Hann window of each strip column. Default 2 s (0.5-Hz resolution).
    eog_height, emg_height, spectrogram_height : int
        ``spectral`` only: band heights in px (0 leaves a band out). Default 24, 12, 48 at 224 px, scaled with
        ``size``. The EEG rows share the rest of the height.
    context_epochs : int
        Neighbouring epochs on each side of the scored one (``trace``: drawn dimmed as far as the width allows;
        ``spectral``: in the spectrogram strip). Default 1.
    epoch_seconds : float
        Epoch length in seconds. Default 30 (AASM).
    grid_seconds : float
        Spacing of the vertical time grid in seconds. Default 1.
    do_normalize : bool
        Normalise ``pixel_values`` with ``image_mean``/``image_std`` (CLIP's by default).
    do_resize, resample, do_rescale, rescale_factor, do_convert_rgb
        transformers' standard image options, honoured at construction and per call for ``images=``: resize
        (PIL, ``resample`` default bilinear) to ``size``, scale by ``rescale_factor`` (1/255), convert to RGB.
        ``do_resize=False`` needs images of the exact ``size``. ``do_center_crop``/``crop_size``/``do_pad``/
        ``pad_size`` are refused with a ``ValueError``; any other unknown option is named in a warning.

    Examples
    --------
    >>> import numpy as np
    >>> proc = EEGVLMImageProcessor()
    >>> x = 50 * np.sin(2 * np.pi * 1.0 * np.arange(3000) / 100)  # one 30-s epoch at 100 Hz, in uV
    >>> proc(eeg=x, sampling_rate=100)["pixel_values"].shape
    (1, 3, 224, 224)
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = EEGVLMImageProcessorKwargs

    def __init__(
        self,
        size: dict | int = 224,
        layout: str | None = None,
        seconds_per_pixel: float | None = None,
        uv_per_pixel: float | None = None,
        context_epochs: int = 1,
        epoch_seconds: float = 30.0,
        grid_seconds: float = 1.0,
        row_seconds: float | None = None,
        eog_uv_per_pixel: float | None = None,
        emg_uv_range: list[float] | None = None,
        spectrogram_hz: list[float] | None = None,
        spectrogram_db: list[float] | None = None,
        spectrogram_window_seconds: float | None = None,
        eog_height: int | None = None,
        emg_height: int | None = None,
        spectrogram_height: int | None = None,
        do_normalize: bool = True,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        do_resize: bool = True,
        resample: int = 2,  # PIL.Image.BILINEAR
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_convert_rgb: bool = True,
        **kwargs,
    ):
        kwargs.pop("image_processor_type", None)
        kwargs.pop("processor_class", None)
        self._refuse(kwargs)
        super().__init__(**kwargs)
        side = square_side(size)
        self.size = {"height": side, "width": side}
        if layout is None:  # configs saved before the spectral layout have seconds_per_pixel and no layout
            layout = "trace" if seconds_per_pixel is not None else "spectral"
        if layout not in LAYOUTS:
            raise ValueError(f"layout: received {layout!r}, expected one of {list(LAYOUTS)}.")
        self.layout = layout
        self.do_resize = bool(do_resize)
        self.resample = int(resample)
        self.do_rescale = bool(do_rescale)
        self.rescale_factor = float(rescale_factor)
        self.do_convert_rgb = bool(do_convert_rgb)
        self.context_epochs = int(context_epochs)
        self.epoch_seconds = float(epoch_seconds)
        self.grid_seconds = float(grid_seconds)
        self.do_normalize = bool(do_normalize)
        self.image_mean = list(image_mean if image_mean is not None else OPENAI_CLIP_MEAN)
        self.image_std = list(image_std if image_std is not None else OPENAI_CLIP_STD)
        spectral = dict(row_seconds=row_seconds, eog_uv_per_pixel=eog_uv_per_pixel, emg_uv_range=emg_uv_range,
                        spectrogram_hz=spectrogram_hz, spectrogram_db=spectrogram_db,
                        spectrogram_window_seconds=spectrogram_window_seconds, eog_height=eog_height,
                        emg_height=emg_height, spectrogram_height=spectrogram_height)
        if layout == "trace":
            given = sorted(k for k, v in spectral.items() if v is not None)
            if given:
                raise ValueError(f"{given[0]}: received {spectral[given[0]]!r} with layout='trace', which does not "
                                 "use it. Pass layout='spectral' or leave it unset.")
            self.seconds_per_pixel = float(0.25 if seconds_per_pixel is None else seconds_per_pixel)
            self.uv_per_pixel = float(2.0 if uv_per_pixel is None else uv_per_pixel)
        else:
            if seconds_per_pixel is not None:
                raise ValueError(f"seconds_per_pixel: received {seconds_per_pixel!r} with layout='spectral', whose "
                                 "time scale is row_seconds (seconds of EEG per row). Pass row_seconds=..., or "
                                 "layout='trace' to draw the old single-line layout.")
            self.seconds_per_pixel = None
            self.uv_per_pixel = float(5.0 if uv_per_pixel is None else uv_per_pixel)
            for name, default in _SPECTRAL_DEFAULTS.items():
                value = default if spectral[name] is None else spectral[name]
                spectral[name] = [float(v) for v in value] if isinstance(default, list) else float(value)
            for name, at_224 in _HEIGHTS_224.items():
                spectral[name] = int(round(at_224 * side / 224) if spectral[name] is None else spectral[name])
        for name, value in spectral.items():
            setattr(self, name, value)
        self._check_geometry()

    def _check_geometry(self) -> None:
        for name in ("seconds_per_pixel", "uv_per_pixel", "epoch_seconds", "grid_seconds", "row_seconds",
                     "eog_uv_per_pixel", "spectrogram_window_seconds"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name}: received {getattr(self, name)}, expected a positive number.")
        if self.context_epochs < 0:
            raise ValueError(f"context_epochs: received {self.context_epochs}, expected an integer >= 0.")
        if self.layout == "trace":
            if self.epoch_width > self.side:
                raise ValueError(
                    f"seconds_per_pixel: received {self.seconds_per_pixel}, which makes a {self.epoch_seconds:g}-s "
                    f"epoch {self.epoch_width} px wide, more than size={self.side}. Use seconds_per_pixel >= "
                    f"{self.epoch_seconds / self.side:.4f} or a larger size."
                )
            return
        for name in ("emg_uv_range", "spectrogram_hz", "spectrogram_db"):
            low, high = getattr(self, name) if len(getattr(self, name)) == 2 else (1, 0)
            if not low < high or (name != "spectrogram_db" and low <= 0):
                raise ValueError(f"{name}: received {getattr(self, name)}, expected [low, high] with "
                                 f"{'' if name == 'spectrogram_db' else '0 < '}low < high.")
        for name in _HEIGHTS_224:
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: received {getattr(self, name)}, expected a height in px >= 0.")
        if self.eeg_height < 4 * self.n_rows:
            raise ValueError(
                f"eog_height / emg_height / spectrogram_height: received {self.eog_height} / {self.emg_height} / "
                f"{self.spectrogram_height} px at size={self.side}, which leaves {self.eeg_height} px for "
                f"{self.n_rows} EEG rows; expected >= 4 px per row. Use smaller bands, longer row_seconds or a "
                "larger size."
            )
        if self.side / self.row_seconds < MIN_PX_PER_SECOND:
            logger.warning("row_seconds=%g at size=%d gives %.1f px per 12-Hz cycle (< 3): alpha and spindles "
                           "will not be resolved; use row_seconds <= %.2f.", self.row_seconds, self.side,
                           self.side / self.row_seconds / 12, self.side / MIN_PX_PER_SECOND)

    @staticmethod
    def _refuse(options: dict) -> None:
        for name, why in _REFUSED.items():
            if options.get(name) not in (None, False):
                raise ValueError(f"{name}: received {options[name]!r}, but EEGVLMImageProcessor does not support it: "
                                 f"{why}. Leave it unset.")

    # ------------------------------------------------------------------ geometry
    @property
    def side(self) -> int:
        """Side of the square output image in px (``size["height"] == size["width"]``)."""
        return self.size["height"]

    @property
    def epoch_width(self) -> int:
        """``trace``: width in px of the scored epoch."""
        return int(round(self.epoch_seconds / self.seconds_per_pixel))

    @property
    def epoch_left(self) -> int:
        """``trace``: column where the scored epoch starts (it is centred)."""
        return (self.side - self.epoch_width) // 2

    @property
    def n_rows(self) -> int:
        """``spectral``: rows the scored epoch is wrapped into (``ceil(epoch_seconds / row_seconds)``)."""
        return n_rows_for(self.row_seconds, self.epoch_seconds)

    @property
    def eeg_height(self) -> int:
        """``spectral``: px of the EEG rows (the height left by the EOG, EMG and spectrogram bands)."""
        return self.side - self.eog_height - self.emg_height - self.spectrogram_height

    @classmethod
    def from_dict(cls, image_processor_dict: dict, **kwargs):
        """A saved config without ``layout`` (saved before the spectral layout existed) loads as ``"trace"``."""
        if "layout" not in image_processor_dict and "layout" not in kwargs:
            image_processor_dict = {**image_processor_dict, "layout": "trace"}
        return super().from_dict(image_processor_dict, **kwargs)

    def samples_with_context(self, sampling_rate: float) -> int:
        """Number of samples of one item with its context: ``(1 + 2 * context_epochs) * epoch_seconds * fs``."""
        return int(round((1 + 2 * self.context_epochs) * self.epoch_seconds * sampling_rate))

    # ------------------------------------------------------------------ inputs
    def _validate_eeg(self, eeg, sampling_rate, channel_names) -> np.ndarray:
        """Return a float32 (B, C, S) batch with context (zeros where absent), after validation."""
        batch, fs = eeg_batch(eeg, sampling_rate, channel_names)
        n_ch, n_s = batch.shape[1], batch.shape[2]
        most = self.side // 8 if self.layout == "trace" else self.eeg_height // (4 * self.n_rows)
        if n_ch < 1 or n_ch > most:
            raise ValueError(
                f"eeg: received {n_ch} channels, expected 1 to {most} (each channel needs an "
                f"{'8-px band' if self.layout == 'trace' else '4-px band in each of the ' + str(self.n_rows) + ' rows'}"
                f"). Pick the channels to show{'' if self.layout == 'trace' else '; pass EOG and EMG as eog=/emg='}."
            )
        epoch_samples = int(round(self.epoch_seconds * fs))
        full = self.samples_with_context(fs)
        if n_s < epoch_samples:
            raise ValueError(
                f"eeg: received {n_s} samples ({n_s / fs:.1f} s at {fs:g} Hz), expected one {self.epoch_seconds:g}-s "
                f"epoch ({epoch_samples} samples), or {full} samples with {self.context_epochs} context epoch(s) on "
                "each side. Pass a whole epoch."
            )
        if n_s not in (epoch_samples, full):
            raise ValueError(
                f"eeg: received {n_s} samples, expected {epoch_samples} (one epoch) or {full} (the epoch with "
                f"{self.context_epochs} neighbouring epoch(s) on each side). Cut nights with "
                "`epochs_with_context(signal, sampling_rate, context_epochs)`."
            )
        if not np.isfinite(batch).all():
            raise ValueError(
                "eeg: received NaN or infinite samples, expected finite values in uV. Interpolate short gaps or "
                "drop the affected epochs (eeg_vlm.stage_night does this for you)."
            )
        if n_s == epoch_samples and self.context_epochs:
            pad = np.zeros(batch.shape[:2] + ((full - n_s) // 2,), dtype=batch.dtype)
            batch = np.concatenate([pad, batch, pad], axis=-1)  # no neighbours: a flat line in their place
        return batch.astype(np.float32), fs

    # ------------------------------------------------------------------ drawing
    def render(self, eeg, sampling_rate: float, *, channel_names=None, eog=None, eog_sampling_rate=None, emg=None,
               emg_sampling_rate=None) -> np.ndarray:
        """Render epochs to uint8 RGB images.

        Parameters
        ----------
        eeg : array_like
            ``(n_samples,)``, ``(n_channels, n_samples)`` or ``(n_epochs, n_channels, n_samples)`` in uV, holding
            one 30-s epoch or the epoch with ``context_epochs`` neighbours on each side.
        sampling_rate : float
            Hz, >= 50.
        channel_names : list of str, optional
            One name per channel row (checked for count).
        eog, emg : array_like, optional
            ``spectral`` only: the scored epoch's EOG / chin EMG in uV, ``(samples per epoch,)`` or ``(n_epochs,
            samples per epoch)`` at ``eog_sampling_rate`` / ``emg_sampling_rate`` Hz (default ``sampling_rate``);
            an EMG below 50 Hz is read as an envelope (Sleep-EDFx's 1-Hz one). Absent: the band stays blank.

        Returns
        -------
        np.ndarray
            ``(n_epochs, size, size, 3)`` uint8.
        """
        batch, fs = self._validate_eeg(eeg, sampling_rate, channel_names)
        ctx_samples = int(round(self.context_epochs * self.epoch_seconds * fs))
        if self.layout == "trace":
            if eog is not None or emg is not None:
                raise ValueError("eog / emg: received a signal, but layout='trace' draws only the EEG. Use "
                                 "layout='spectral' to draw EOG and EMG bands.")
            return render_trace(batch, fs, size=self.side, spp=self.seconds_per_pixel, uvpp=self.uv_per_pixel,
                                left=self.epoch_left, width=self.epoch_width, grid_s=self.grid_seconds,
                                ctx_samples=ctx_samples)
        eog, eog_fs = validate_aux("eog", eog, eog_sampling_rate, fs, len(batch), 1.0, self.epoch_seconds)
        emg, emg_fs = validate_aux("emg", emg, emg_sampling_rate, fs, len(batch), 0.1, self.epoch_seconds)
        return render_spectral(
            batch, fs, size=self.side, geometry=(self.eeg_height, self.eog_height, self.emg_height,
                                                 self.spectrogram_height),
            row_seconds=self.row_seconds, uvpp=self.uv_per_pixel, grid_s=self.grid_seconds,
            epoch_seconds=self.epoch_seconds, ctx_samples=ctx_samples, eog=eog, eog_fs=eog_fs,
            eog_uvpp=self.eog_uv_per_pixel, emg=emg, emg_fs=emg_fs, emg_range=tuple(self.emg_uv_range),
            spec_window=self.spectrogram_window_seconds, spec_hz=tuple(self.spectrogram_hz),
            spec_db=tuple(self.spectrogram_db))

    # ------------------------------------------------------------------ images -> pixel_values
    def to_pixel_values(self, images: np.ndarray, *, do_rescale=None, rescale_factor=None, do_normalize=None,
                        image_mean=None, image_std=None) -> np.ndarray:
        """(B, H, W, C) -> (B, C, H, W) float32: scaled by ``rescale_factor`` and normalised, as configured."""
        do_rescale = self.do_rescale if do_rescale is None else do_rescale
        rescale_factor = self.rescale_factor if rescale_factor is None else rescale_factor
        do_normalize = self.do_normalize if do_normalize is None else do_normalize
        x = images.transpose(0, 3, 1, 2)  # (B, C, H, W)
        # float64 product then float32: bit-identical to uint8 / 255 for every uint8 value
        x = (x * np.float64(rescale_factor)).astype(np.float32) if do_rescale else x.astype(np.float32)
        if do_normalize:
            mean = np.asarray(self.image_mean if image_mean is None else image_mean, np.float32).reshape(-1)
            std = np.asarray(self.image_std if image_std is None else image_std, np.float32).reshape(-1)
            if mean.size not in (1, x.shape[1]) or std.size not in (1, x.shape[1]):
                raise ValueError(f"image_mean / image_std: received {mean.size} / {std.size} values, expected 1 or "
                                 f"one per channel ({x.shape[1]}).")
            x = (x - mean[None, :, None, None]) / std[None, :, None, None]
        return x

    def preprocess(self, images=None, eeg=None, sampling_rate=None, channel_names=None, return_tensors=None, *,
                   eog=None, eog_sampling_rate=None, emg=None, emg_sampling_rate=None, **kwargs) -> BatchFeature:
        """Turn EEG (``eeg=``, ``sampling_rate=``) or rendered images (``images=``) into ``pixel_values``.

        transformers' standard options (``do_resize``, ``size``, ``resample``, ``do_rescale``, ``rescale_factor``,
        ``do_normalize``, ``image_mean``, ``image_std``, ``do_convert_rgb``, ``input_data_format``, ``device``)
        apply to this call; ``do_center_crop``/``crop_size``/``do_pad``/``pad_size`` and a ``data_format`` other than
        channels-first raise ``ValueError``; other unknown options are named in a warning. ``eog=``/``emg=`` (with
        their rates) are drawn by the spectral layout (see :meth:`render`).
        """
        if (images is None) == (eeg is None):
            raise ValueError("images / eeg: pass exactly one of them (eeg=array in uV with sampling_rate=Hz).")
        self._refuse(kwargs)
        data_format = kwargs.pop("data_format", None)
        if data_format not in (None, "channels_first") and str(getattr(data_format, "value", "")) != "channels_first":
            raise ValueError(f"data_format: received {data_format!r}, expected 'channels_first' (the model's layout).")
        input_data_format = kwargs.pop("input_data_format", None)
        device = kwargs.pop("device", None)
        call = {k: kwargs.pop(k) for k in _PER_CALL if kwargs.get(k) is not None}
        for k in _PER_CALL:
            kwargs.pop(k, None)
        unknown = sorted(k for k, v in kwargs.items() if v is not None)
        if unknown:
            logger.warning("EEGVLMImageProcessor: ignored unknown option(s) %s.", unknown)
        side = square_side(call["size"]) if "size" in call else self.side
        if eeg is not None:
            if side != self.side:
                raise ValueError(f"size: received {call['size']} with eeg=..., but this processor renders at "
                                 f"{self.side} px; build EEGVLMImageProcessor(size=...) to render at another size.")
            arr = self.render(eeg, sampling_rate, channel_names=channel_names, eog=eog,
                              eog_sampling_rate=eog_sampling_rate, emg=emg, emg_sampling_rate=emg_sampling_rate)
        else:
            pick = {k: getattr(self, k) if call.get(k) is None else call[k]
                    for k in ("do_resize", "resample", "do_convert_rgb")}
            arr = images_to_array(images, side=side, input_data_format=input_data_format, **pick)
        pixels = self.to_pixel_values(arr, **{k: call[k] for k in ("do_rescale", "rescale_factor", "do_normalize",
                                                                   "image_mean", "image_std") if k in call})
        out = BatchFeature({"pixel_values": pixels}, tensor_type=return_tensors)
        return out.to(device) if device is not None and return_tensors == "pt" else out

    def __call__(self, images=None, eeg=None, **kwargs) -> BatchFeature:
        return self.preprocess(images=images, eeg=eeg, **kwargs)


__all__ = ["EEGVLMImageProcessor", "EEGVLMImageProcessorKwargs", "epochs_with_context"]
