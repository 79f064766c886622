"""Inputs of :class:`~eeg_vlm.EEGVLMImageProcessor` checked and normalised: EEG / EOG / EMG arrays in uV, and
already-rendered images (PIL, numpy or torch) brought to the processor's square.

Part of the Hub remote-code unit (imported by ``image_processing_eeg_vlm.py``): imports only installed libraries.
"""

from __future__ import annotations

import numpy as np

MIN_SAMPLING_RATE = 50.0  # Hz: below this, spindles (11-16 Hz) and alpha cannot be represented


def square_side(size) -> int:
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


def as_float_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array, or a ValueError naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: received {type(value).__name__}, expected a numeric array in uV.") from err
    return arr


def eeg_batch(eeg, sampling_rate, channel_names):
    """``eeg`` as given (one epoch, channels, a batch or a list) -> ((B, C, S) float64 array, rate in Hz), after
    checking the rate, the shape and the channel names."""
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
        items = [as_float_array("eeg", e) for e in eeg]
        if len({i.shape for i in items}) > 1 or items[0].ndim > 2:
            raise ValueError(
                f"eeg: received a list of arrays with shapes {[i.shape for i in items]}, expected arrays of "
                "one shape (n_channels, n_samples) or (n_samples,). Render nights epoch by epoch."
            )
        batch = np.stack([i if i.ndim == 2 else i[None] for i in items])
    else:
        arr = as_float_array("eeg", eeg)
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
    n_ch = batch.shape[1]
    if channel_names is not None and len(channel_names) != n_ch:
        raise ValueError(f"channel_names: received {len(channel_names)} names, expected one per row of eeg ({n_ch}).")
    return batch, fs


def validate_aux(name: str, x, rate, eeg_rate: float, n_epochs: int, min_rate: float, epoch_seconds: float):
    """EOG/EMG -> ((B, samples per epoch) float32, rate) or (None, None), after validation."""
    if x is None:
        return None, None
    rate = eeg_rate if rate is None else rate
    try:
        rate = float(rate)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}_sampling_rate: received {rate!r}, expected a number in Hz.") from err
    if not np.isfinite(rate) or rate < min_rate:
        raise ValueError(f"{name}_sampling_rate: received {rate}, expected >= {min_rate:g} Hz.")
    arr = as_float_array(name, x)
    arr = arr[None] if arr.ndim == 1 else arr
    n = int(round(epoch_seconds * rate))
    if arr.ndim != 2 or arr.shape != (n_epochs, n):
        raise ValueError(f"{name}: received shape {np.shape(x)}, expected ({n_epochs}, {n}): the scored "
                         f"{epoch_seconds:g}-s epoch(s) at {rate:g} Hz, without context.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: received NaN or infinite samples, expected finite values in uV (or None when "
                         "the channel is missing).")
    return arr.astype(np.float32), rate


def images_to_array(images, *, side: int, do_resize: bool, resample: int, do_convert_rgb: bool,
                    input_data_format=None) -> np.ndarray:
    """Images (PIL, numpy or torch; HW, HWC or CHW; nested lists) -> (B, H, W, C) at ``side`` px, dtype kept."""
    from PIL import Image

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
