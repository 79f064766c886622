"""EEG-to-image renderer: one 30-s epoch (+ dimmed neighbours) drawn at a fixed physical scale.

A vectorised numpy rasteriser (no matplotlib): for every pixel column it takes the min/max of the samples that
fall in it (plus the previous sample, so the trace stays connected) and fills that vertical span. The scale is
fixed and stored in the config (``uv_per_pixel``, ``seconds_per_pixel``) so that a 75-uV slow wave has the same
height in every night. Deterministic: the same input always gives the same bytes.

Measure its speed against a matplotlib baseline::

    python benchmarks/render.py

This file is part of the Hub remote-code unit: it imports only installed libraries.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
MIN_SAMPLING_RATE = 50.0  # Hz: below this, spindles (11-16 Hz) and alpha cannot be represented

# RGB colours of the drawing (uint8)
BACKGROUND = (255, 255, 255)
GRID = (222, 230, 242)  # 1-s grid: light blue, like paper EEG
EPOCH_EDGE = (150, 150, 170)  # boundaries of the scored epoch
AMPLITUDE_GUIDE = (246, 214, 214)  # +/- 37.5 uV: a wave crossing both lines is >= 75 uV peak-to-peak
TRACE = (0, 0, 0)
CONTEXT_TRACE = (150, 150, 150)  # neighbouring epochs, dimmed


class EEGVLMImageProcessorKwargs(ImagesKwargs, total=False):
    """Options of :class:`EEGVLMImageProcessor` beyond transformers' ``ImagesKwargs`` (set at construction)."""

    seconds_per_pixel: float
    uv_per_pixel: float
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


def _square_side(size) -> int:
    """``size`` as given (int, or {"height", "width"} / {"shortest_edge"}) -> the side of the square in px."""
    if isinstance(size, dict):
        if "height" in size or "width" in size:
            height, width = size.get("height", size.get("width")), size.get("width", size.get("height"))
            if height != width:
                raise ValueError(
                    f"size: received {size}, expected a square {{'height': s, 'width': s}}: the EEG is drawn on a "
                    "square canvas that the CLIP tower takes whole."
                )
            return int(height)
        if "shortest_edge" in size:
            return int(size["shortest_edge"])
        raise ValueError(f"size: received {size}, expected an int or {{'height': s, 'width': s}}.")
    try:
        return int(size)
    except (TypeError, ValueError) as err:
        raise ValueError(f"size: received {size!r}, expected an int or {{'height': s, 'width': s}}.") from err


def _as_float_array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: received {type(value).__name__}, expected a numeric array in uV.") from err
    return arr


class EEGVLMImageProcessor(BaseImageProcessor):
    r"""
    Render EEG epochs to images for EEG-VLM, or pass through already-rendered images.

    Parameters
    ----------
    size : dict or int
        The square output image, ``{"height": s, "width": s}`` in pixels (must equal the CLIP tower's
        ``image_size``); an int ``s`` (older saved processors) is read as the same square. Default 224.
    seconds_per_pixel : float
        Time scale. Default 0.25 s/px: a 30-s epoch spans 120 px, leaving 52 px (13 s) of each neighbour visible.
    uv_per_pixel : float
        Amplitude scale in uV per pixel. Default 2.0: a 75-uV slow wave spans 37.5 px, a channel band of
        224 px shows +/- 224 uV before clipping.
    context_epochs : int
        Neighbouring epochs drawn (dimmed) on each side of the scored one, as far as the width allows. Default 1.
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
        seconds_per_pixel: float = 0.25,
        uv_per_pixel: float = 2.0,
        context_epochs: int = 1,
        epoch_seconds: float = 30.0,
        grid_seconds: float = 1.0,
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
        side = _square_side(size)
        self.size = {"height": side, "width": side}
        self.do_resize = bool(do_resize)
        self.resample = int(resample)
        self.do_rescale = bool(do_rescale)
        self.rescale_factor = float(rescale_factor)
        self.do_convert_rgb = bool(do_convert_rgb)
        self.seconds_per_pixel = float(seconds_per_pixel)
        self.uv_per_pixel = float(uv_per_pixel)
        self.context_epochs = int(context_epochs)
        self.epoch_seconds = float(epoch_seconds)
        self.grid_seconds = float(grid_seconds)
        self.do_normalize = bool(do_normalize)
        self.image_mean = list(image_mean if image_mean is not None else OPENAI_CLIP_MEAN)
        self.image_std = list(image_std if image_std is not None else OPENAI_CLIP_STD)
        for name in ("seconds_per_pixel", "uv_per_pixel", "epoch_seconds", "grid_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: received {getattr(self, name)}, expected a positive number.")
        if self.context_epochs < 0:
            raise ValueError(f"context_epochs: received {self.context_epochs}, expected an integer >= 0.")
        if self.epoch_width > self.side:
            raise ValueError(
                f"seconds_per_pixel: received {self.seconds_per_pixel}, which makes a {self.epoch_seconds:g}-s epoch "
                f"{self.epoch_width} px wide, more than size={self.side}. Use seconds_per_pixel >= "
                f"{self.epoch_seconds / self.side:.4f} or a larger size."
            )

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
        """Width in px of the scored epoch."""
        return int(round(self.epoch_seconds / self.seconds_per_pixel))

    @property
    def epoch_left(self) -> int:
        """Column where the scored epoch starts (it is centred)."""
        return (self.side - self.epoch_width) // 2

    def samples_with_context(self, sampling_rate: float) -> int:
        """Number of samples of one item with its context: ``(1 + 2 * context_epochs) * epoch_seconds * fs``."""
        return int(round((1 + 2 * self.context_epochs) * self.epoch_seconds * sampling_rate))

    # ------------------------------------------------------------------ inputs
    def _validate_eeg(self, eeg, sampling_rate, channel_names) -> np.ndarray:
        """Return a float32 (B, C, S) batch with context (zeros where absent), after validation."""
        if sampling_rate is None:
            raise ValueError("sampling_rate: received None, expected the EEG sampling rate in Hz (e.g. 100).")
        try:
            fs = float(sampling_rate)
        except (TypeError, ValueError) as err:
            raise ValueError(f"sampling_rate: received {sampling_rate!r}, expected a number in Hz.") from err
        if not np.isfinite(fs) or fs < MIN_SAMPLING_RATE:
            raise ValueError(
                f"sampling_rate: received {sampling_rate} Hz, expected >= {MIN_SAMPLING_RATE:g} Hz so that spindles "
                "(11-16 Hz) are representable. Record or export the EEG at 50 Hz or more."
            )
        if isinstance(eeg, (list, tuple)) and len(eeg) and np.ndim(eeg[0]) >= 1 and not np.isscalar(eeg[0]):
            items = [_as_float_array("eeg", e) for e in eeg]
            if len({i.shape for i in items}) > 1 or items[0].ndim > 2:
                raise ValueError(
                    f"eeg: received a list of arrays with shapes {[i.shape for i in items]}, expected arrays of "
                    "one shape (n_channels, n_samples) or (n_samples,). Render nights epoch by epoch."
                )
            batch = np.stack([i if i.ndim == 2 else i[None] for i in items])
        else:
            arr = _as_float_array("eeg", eeg)
            if arr.ndim == 1:
                batch = arr[None, None]
            elif arr.ndim == 2:
                batch = arr[None]
            elif arr.ndim == 3:
                batch = arr
            else:
                raise ValueError(
                    f"eeg: received an array with {arr.ndim} dimensions {arr.shape}, expected (n_samples,), "
                    "(n_channels, n_samples) or a batch (n_epochs, n_channels, n_samples), in uV."
                )
        n_ch, n_s = batch.shape[1], batch.shape[2]
        if channel_names is not None and len(channel_names) != n_ch:
            raise ValueError(
                f"channel_names: received {len(channel_names)} names, expected one per row of eeg ({n_ch})."
            )
        if n_ch < 1 or n_ch > self.side // 8:
            raise ValueError(
                f"eeg: received {n_ch} channels, expected 1 to {self.side // 8} (each channel needs an 8-px band). "
                "Pick the channels to show."
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
    @staticmethod
    @lru_cache(maxsize=32)
    def _template(size: int, n_ch: int, spp: float, uvpp: float, left: int, width: int, grid_s: float):
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

    def render(self, eeg, sampling_rate: float, *, channel_names=None) -> np.ndarray:
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

        Returns
        -------
        np.ndarray
            ``(n_epochs, size, size, 3)`` uint8.
        """
        batch, fs = self._validate_eeg(eeg, sampling_rate, channel_names)
        b, n_ch, n_s = batch.shape
        size, spp, left = self.side, self.seconds_per_pixel, self.epoch_left
        ctx_samples = self.context_epochs * self.epoch_seconds * fs
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
        top = np.clip(np.floor(mid - hi / self.uv_per_pixel), band_top, band_top + band - 1).astype(np.int16)
        bot = np.clip(np.ceil(mid - lo / self.uv_per_pixel), band_top, band_top + band - 1).astype(np.int16)
        top[..., ~valid], bot[..., ~valid] = -1, -1  # span 0 starting above row 0: nothing drawn outside the signal
        template = self._template(size, n_ch, spp, self.uv_per_pixel, left, self.epoch_width, self.grid_seconds)
        cols = np.arange(size)
        scored = (cols >= left) & (cols < left + self.epoch_width)
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

    # ------------------------------------------------------------------ images -> pixel_values
    def _images_to_array(self, images, *, side=None, do_resize=None, resample=None, do_convert_rgb=None,
                         input_data_format=None) -> np.ndarray:
        """Images (PIL, numpy or torch; HW, HWC or CHW; nested lists) -> (B, H, W, C) at ``side`` px, dtype kept."""
        from PIL import Image

        side = self.side if side is None else side
        do_resize = self.do_resize if do_resize is None else do_resize
        resample = self.resample if resample is None else resample
        do_convert_rgb = self.do_convert_rgb if do_convert_rgb is None else do_convert_rgb

        def flatten(x):  # a batch may arrive nested per sample ([[img], [img]] from apply_chat_template)
            if isinstance(x, (list, tuple)):
                return [leaf for item in x for leaf in flatten(item)]
            if hasattr(x, "ndim") and x.ndim == 4:  # a (B, ...) numpy array or torch tensor
                return list(x)
            return [x]

        images = flatten(images)
        if not images:
            raise ValueError("images: received an empty list, expected at least one image.")
        out = []
        for i, im in enumerate(images):
            if isinstance(im, Image.Image):
                if do_convert_rgb:
                    im = im.convert("RGB")
                arr = np.asarray(im)
            else:
                if hasattr(im, "detach"):  # torch tensor
                    im = im.detach().cpu().numpy()
                arr = np.asarray(im)
                if arr.ndim not in (2, 3) or not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
                    raise ValueError(
                        f"images[{i}]: received an array of dtype {arr.dtype} and shape {arr.shape}, expected a PIL "
                        "image, or a uint8 or float array (H, W), (H, W, C) or (C, H, W). To render EEG, pass eeg=... "
                        "instead."
                    )
                if arr.ndim == 3 and _channels_first(arr, input_data_format):
                    arr = arr.transpose(1, 2, 0)  # (H, W, C)
            if arr.ndim == 2:
                arr = arr[..., None]
            if do_convert_rgb and arr.shape[-1] != 3:
                arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr[..., :3]  # grey -> RGB, drop alpha
            if arr.shape[:2] != (side, side):
                if not do_resize:
                    raise ValueError(
                        f"images[{i}]: received an image of {arr.shape[1]}x{arr.shape[0]} px with do_resize=False, "
                        f"expected {side}x{side} px. Pass do_resize=True or images of the processor's size."
                    )
                arr = _resize(arr, side, resample)
            out.append(arr)
        if len({a.shape for a in out}) > 1:
            raise ValueError(f"images: received images with {sorted({a.shape[-1] for a in out})} channels, expected "
                             "one channel count per batch (pass do_convert_rgb=True).")
        return np.stack(out)

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

    def preprocess(self, images=None, eeg=None, sampling_rate=None, channel_names=None, return_tensors=None,
                   **kwargs) -> BatchFeature:
        """Turn EEG (``eeg=``, ``sampling_rate=``) or rendered images (``images=``) into ``pixel_values``.

        transformers' standard options (``do_resize``, ``size``, ``resample``, ``do_rescale``, ``rescale_factor``,
        ``do_normalize``, ``image_mean``, ``image_std``, ``do_convert_rgb``, ``input_data_format``, ``device``)
        apply to this call; ``do_center_crop``/``crop_size``/``do_pad``/``pad_size`` and a ``data_format`` other than
        channels-first raise ``ValueError``; other unknown options are named in a warning.
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
        side = _square_side(call["size"]) if "size" in call else self.side
        if eeg is not None:
            if side != self.side:
                raise ValueError(f"size: received {call['size']} with eeg=..., but this processor renders at "
                                 f"{self.side} px; build EEGVLMImageProcessor(size=...) to render at another size.")
            arr = self.render(eeg, sampling_rate, channel_names=channel_names)
        else:
            arr = self._images_to_array(images, side=side, do_resize=call.get("do_resize"),
                                        resample=call.get("resample"), do_convert_rgb=call.get("do_convert_rgb"),
                                        input_data_format=input_data_format)
        pixels = self.to_pixel_values(arr, **{k: call[k] for k in ("do_rescale", "rescale_factor", "do_normalize",
                                                                   "image_mean", "image_std") if k in call})
        out = BatchFeature({"pixel_values": pixels}, tensor_type=return_tensors)
        return out.to(device) if device is not None and return_tensors == "pt" else out

    def __call__(self, images=None, eeg=None, **kwargs) -> BatchFeature:
        return self.preprocess(images=images, eeg=eeg, **kwargs)


def _channels_first(arr: np.ndarray, input_data_format) -> bool:
    """Whether a 3-D image array is (C, H, W): as told, else when its first axis looks like channels and its last
    does not."""
    fmt = str(getattr(input_data_format, "value", input_data_format or ""))
    if fmt in ("channels_first", "channels_last"):
        return fmt == "channels_first"
    return arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4)


def _resize(arr: np.ndarray, side: int, resample: int) -> np.ndarray:
    """(H, W, C) -> (side, side, C) with PIL; uint8 RGB/grey in one pass, anything else channel by channel."""
    from PIL import Image

    if arr.dtype == np.uint8 and arr.shape[-1] in (1, 3):
        img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        out = np.asarray(img.resize((side, side), resample))
        return out[..., None] if out.ndim == 2 else out
    chans = [np.asarray(Image.fromarray(arr[..., c].astype(np.float32), mode="F").resize((side, side), resample))
             for c in range(arr.shape[-1])]
    return np.stack(chans, axis=-1).astype(arr.dtype)


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


__all__ = ["EEGVLMImageProcessor", "EEGVLMImageProcessorKwargs", "epochs_with_context"]
