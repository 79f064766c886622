"""EEG-VLM Gradio Space: stage a night from an EDF and read it as a sleep-scoring viewer, with the model's reasons.

Run locally (from the project root, with the package installed: ``pip install -e ".[space]"``)::

    python space/app.py                                   # http://127.0.0.1:7860, embedded default model
    EEG_VLM_MODEL=runs/default/final python space/app.py  # another model: a directory or a Hub id

Environment
-----------
EEG_VLM_MODEL
    Model to stage with: a directory or a Hub id. Unset (default): the model embedded in the package.
EEG_VLM_MAX_UPLOAD_MB
    Largest accepted upload in MB (default 200).

Every event handler below is a pure function of its inputs: the night being viewed lives in a per-session
``gr.State`` (a plain dict), so sessions never share mutable state. Process-wide objects are read-only caches: the
loaded model (``eeg_vlm.staging.load_staging_model``) and the last few recordings read from disk. ``launch()`` runs
only under ``__main__``. Tests: ``python -m pytest tests/test_space.py tests/test_space_browser.py -q``.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.context import LocalContext

import eeg_vlm
from eeg_vlm.io import load_recording
from eeg_vlm.io.viewer import LOW_CONFIDENCE, night_spectrogram, plot_epoch, plot_night
from eeg_vlm.reference import compare_with_reference, read_reference
from eeg_vlm.staging import load_staging_model

logger = logging.getLogger(__name__)

APP_TITLE = "EEG-VLM"
STAGES = ("W", "N1", "N2", "N3", "REM")
# 200 MB: a Sleep-EDFx PSG is ~50 MB and a few-channel 8-h export at 256 Hz stays below it, while the upload still
# finishes in about a minute on a 30 Mbit/s link. Raise it with EEG_VLM_MAX_UPLOAD_MB for full clinical montages.
MAX_UPLOAD_MB = float(os.environ.get("EEG_VLM_MAX_UPLOAD_MB", "200"))
EDF_MAGICS = (b"0       ", b"\xffBIOSEMI")  # first 8 header bytes of EDF/EDF+ and of BDF files
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "eeg-vlm-space"  # one sub-directory of downloads per staging request
KEEP_SECONDS = 3600  # downloads and uploads are kept 1 h (Gradio's cache too: Blocks(delete_cache=...))
DISPLAY_MIN_PX = 448  # the model's input image is upscaled (nearest neighbour) to at least this size for display
DEFAULT_WIDTH_PX = 1400  # figure width when the browser's width is unknown (API calls)
NARROW_PX = 700  # below this page width the views switch to their phone layout

# (label, unit) of each sleep statistic of NightResult.summary(); unknown keys are shown as they come
STAT_LABELS = {
    "TIB": ("Time in bed", "min"), "SPT": ("Sleep period time", "min"), "WASO": ("Wake after sleep onset", "min"),
    "TST": ("Total sleep time", "min"), "SE": ("Sleep efficiency", "%"), "SME": ("Sleep maintenance efficiency", "%"),
    "SFI": ("Sleep fragmentation index", "/h of TST"), "SOL": ("Sleep onset latency", "min"),
    "SOL_5min": ("Latency to 5 min of continuous sleep", "min"), "Lat_REM": ("REM latency from lights off", "min"),
    "WAKE": ("Wake", "min"), "N1": ("N1", "min"), "N2": ("N2", "min"), "N3": ("N3", "min"), "REM": ("REM", "min"),
    "UNS": ("Unscorable", "min"), "%N1": ("N1", "% of TST"), "%N2": ("N2", "% of TST"), "%N3": ("N3", "% of TST"),
    "%REM": ("REM", "% of TST"),
}


def model_spec() -> str | None:
    """The model named by ``EEG_VLM_MODEL`` (directory or Hub id), or None for the embedded default model."""
    return os.environ.get("EEG_VLM_MODEL") or None


def max_upload_bytes() -> int:
    """Largest accepted upload in bytes (``MAX_UPLOAD_MB``)."""
    return int(MAX_UPLOAD_MB * 1024 * 1024)


# -------------------------------------------------------------------------------------------------- messages
_PATH = re.compile(r"'(?:[^'\s]*[/\\])([^'/\\]+)'")  # a quoted path: keep only its file name
_PROGRAMMER = re.compile(r"mne\.io|channel=|--\w|data\.T|sampling_rate|\bRaw\b|\barray\b|from_pretrained|"
                         r"use_safetensors|save_pretrained|NEW_DIR")


def user_message(text: str) -> str:
    """A library message in a Space user's words: file names instead of server paths, no argument prefix, no
    sentence that only makes sense in Python ("pass channel=...")."""
    text = _PATH.sub(r"'\1'", str(text))
    text = re.sub(r"\s*\(working directory [^)]*\)", "", text)
    text = re.sub(r"^[a-z_]+: ", "", text)
    sentences = re.split(r"(?<=[.!?)])\s+(?=[A-Z`])", text)
    text = " ".join([s for s in sentences if not _PROGRAMMER.search(s)] or sentences[:1])
    text = re.sub(r"\b([Pp])ass\b", lambda m: "Upload" if m.group(1) == "P" else "upload", text)
    return text[:1].upper() + text[1:]


# The last refused action of each session, (title, message), until its panel in the page shows it. Keyed by
# Gradio's session hash, bounded: only the message travels between two events of one session.
_ERRORS: OrderedDict[str, tuple[str, str]] = OrderedDict()
_MAX_SESSIONS = 1000


@contextmanager
def _shown_to_user(title: str):
    """Turn a ``ValueError`` (whose message says what to fix) into a ``gr.Error`` (API callers get the message) and
    leave it, titled with the app's name and what failed, for the page's error panel (:func:`error_panel`).
    Anything else is logged and reported as a failure of the Space, without its internals."""
    try:
        yield
    except gr.Error:
        raise
    except Exception as err:
        if isinstance(err, ValueError):
            message = user_message(str(err))
            if str(err).startswith("model:"):  # the fix in a Space is a variable, not a Python argument
                message += (" In this Space, set the variable EEG_VLM_MODEL to a model directory or Hub id "
                            "(Settings > Variables and secrets).")
        else:
            logger.exception("%s failed", title)
            message = (f"The Space failed while working on it ({type(err).__name__}). Try again; if it fails again, "
                       "please report it with the file you used.")
        request = LocalContext.request.get(None)
        if request is not None and request.session_hash:
            _ERRORS[request.session_hash] = (f"{APP_TITLE}: {title}", message)
            while len(_ERRORS) > _MAX_SESSIONS:
                _ERRORS.popitem(last=False)
        # visible=False: the page shows it in a panel beside the control, not in a toast that fades and covers
        raise gr.Error(message, title=f"{APP_TITLE}: {title}", visible=False) from err


def error_panel(request: gr.Request):
    """Handler run when an action fails: its message as an alert that stays in the page until the next action.
    An action cancelled by a newer one (nothing was refused) leaves the panel as it is."""
    title_message = _ERRORS.pop(getattr(request, "session_hash", None) or "", None)
    if title_message is None:
        return gr.skip()
    title, message = title_message
    return (f"<div class='app-error' role='alert'><div class='app-error-title'>{html.escape(title)}</div>"
            f"<div class='app-error-text'>{html.escape(message)}</div></div>")


# The epoch each session selected last. Selections arrive from several controls and their answers can finish out of
# order (an explanation takes seconds): an answer for an epoch that is no longer selected is dropped, so the page
# never shows one epoch next to another's reasoning. Sessions without a record (API callers) get every answer.
_SELECTED: OrderedDict[str, int] = OrderedDict()


def _session() -> str | None:
    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None)


def _select(epoch: int) -> int:
    """Record ``epoch`` as the session's selection and return it."""
    session = _session()
    if session:
        _SELECTED[session] = epoch
        _SELECTED.move_to_end(session)
        while len(_SELECTED) > _MAX_SESSIONS:
            _SELECTED.popitem(last=False)
    return epoch


def _stale(epoch: int) -> bool:
    """True when the session has selected another epoch since ``epoch`` was asked for."""
    latest = _SELECTED.get(_session() or "")
    return latest is not None and latest != epoch


def check_upload(path, *, max_bytes: int | None = None) -> Path:
    """Refuse a missing, oversized or non-EDF upload before reading it, with a message for the user.

    Parameters
    ----------
    path : str, Path or None
        The uploaded file (Gradio's temporary copy keeps the original file name).
    max_bytes : int, optional
        Size limit in bytes; default :func:`max_upload_bytes`.

    Returns
    -------
    Path
    """
    max_bytes = max_upload_bytes() if max_bytes is None else max_bytes
    if path is None:
        raise ValueError("file: nothing was uploaded. Upload an EDF/EDF+ recording of one night (.edf), "
                         "or click 'Stage the sample night'.")
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(
            f"file: {path.name!r} is {size / 2**20:.1f} MB, over this Space's {max_bytes / 2**20:.0f} MB upload limit. "
            "Export only the EEG channel(s) to a smaller EDF, or run eeg-vlm on your own computer "
            "(`pip install eeg-vlm`, then `eeg-vlm stage NIGHT.edf`), which has no size limit.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head not in EDF_MAGICS:
        raise ValueError(
            f"file: {path.name!r} is not an EDF file (its first bytes are {head!r}, an EDF header starts with "
            "'0' and 7 spaces). Expected a European Data Format recording (.edf/.bdf, e.g. a Sleep-EDFx "
            "'*-PSG.edf'): export the night as EDF from your acquisition software.")
    return path


# -------------------------------------------------------------------------------------------------- the night
# pyedflib (edflib) refuses to open a file that is already open, so two sessions reading the same night at once (the
# sample, or a page still drawing while the next is asked for) would fail: reads of one file take turns.
_FILE_LOCKS = tuple(threading.Lock() for _ in range(16))


def _file_lock(path) -> threading.Lock:
    return _FILE_LOCKS[hash(str(path)) % len(_FILE_LOCKS)]


def _recording(path: str, channel: str, mtime: float):
    """The night's EEG at 100 Hz (read once per file: epoch pages and the spectrogram reuse it)."""
    with _file_lock(path):
        return _read_recording(path, channel, mtime)


@lru_cache(maxsize=4)
def _read_recording(path: str, channel: str, mtime: float):
    return load_recording(path, channel=channel)


@lru_cache(maxsize=4)
def _read_eog_emg(path: str, n_epochs: int, mtime: float):
    from eeg_vlm.io.eog_emg import read_eog_emg

    eog, emg, names = read_eog_emg(path, n_epochs=n_epochs)
    return tuple(None if x is None else x.astype(np.float32) for x in (eog, emg)), names


def _night_recording(night: dict):
    path = Path(night["path"])
    if not path.exists():
        raise ValueError(f"epoch: the recording {night['name']!r} of this session is no longer on the server "
                         f"(uploads are kept {KEEP_SECONDS // 60} min). Upload it again and stage it.")
    return _recording(str(path), night["channel"], path.stat().st_mtime)


def _width(viewport) -> int:
    """Figure width in pixels for a page ``viewport`` px wide (the page's padding left out)."""
    try:
        return int(np.clip(float(viewport) - 40, 340, 1600))
    except (TypeError, ValueError):  # unknown (an API call): a desktop page
        return DEFAULT_WIDTH_PX - 40


def _to_image(fig) -> tuple[np.ndarray, list]:
    """A figure as an RGB array and the pixel box (left, top, right, bottom) of each of its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3)
    height = image.shape[0]
    boxes = [[int(b.x0), int(height - b.y1), int(b.x1), int(height - b.y0)]
             for b in (ax.get_window_extent() for ax in fig.axes)]
    return image, boxes


def _render_night(night: dict) -> dict:
    """The night view (hypnogram over the spectrogram) as an image, and where its time axis lies in pixels."""
    fig = plot_night(night["stages"], confidence=np.asarray(night["confidence"], dtype=float),
                     spectrogram=night["spectrogram"], start_datetime=night["start"], cursor=None,
                     reference=night.get("reference"), reference_name="scorer", width_px=night["width"])
    image, boxes = _to_image(fig)
    hyp, last = boxes[0], boxes[len(fig.axes) - 1 if night["spectrogram"] is None else 1]
    return {"image": image, "x0": hyp[0], "x1": hyp[2], "top": hyp[1], "bottom": last[3]}


def _with_cursor(night: dict, epoch: int | None) -> np.ndarray:
    """The night view with the selected epoch marked (drawn on the cached image: no re-plot per click)."""
    view = night["view"]
    image = view["image"].copy()
    if epoch is None:
        return image
    n = night["n_epochs"]
    left = view["x0"] + (view["x1"] - view["x0"]) * epoch / n
    right = max(left + 3, view["x0"] + (view["x1"] - view["x0"]) * (epoch + 1) / n)
    cols = slice(int(left) - 1, int(np.ceil(right)) + 1)
    band = image[view["top"] : view["bottom"], cols].astype(np.float32)
    image[view["top"] : view["bottom"], cols] = (0.45 * band + 0.55 * np.array([208, 0, 0])).astype(np.uint8)
    return image


def _summary_table(summary: dict) -> list[list]:
    rows = []
    for key, value in summary.items():
        label, unit = STAT_LABELS.get(key, (key, ""))
        rows.append([label, None if value is None or np.isnan(value) else round(float(value), 1), unit])
    return rows


def _stage_table(result):
    """One row per epoch without the reasoning column; NaN (unscorable epochs) as empty cells (JSON has no NaN)."""
    df = result.to_dataframe().drop(columns="reasoning")
    df["onset_s"] = df["onset_s"].round(1)
    for col in ["confidence", *(f"p_{s}" for s in STAGES)]:
        df[col] = df[col].astype(float).round(3)
    return df.astype(object).where(df.notna(), None)


def _new_output_dir() -> Path:
    """A fresh directory for one request's downloads (sessions never collide); those older than 1 h are removed."""
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT_ROOT.iterdir():
        try:
            if old.is_dir() and time.time() - old.stat().st_mtime > KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # removed meanwhile by another session's request
            continue
    return Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))


def stage_path(path, *, name: str | None = None, viewport=None) -> tuple:
    """Stage one night: (night view, stage table, summary, downloads, night state, first epoch, status).

    Parameters
    ----------
    path : str or Path
        An EDF/EDF+ recording already checked with :func:`check_upload` (or the bundled sample).
    name : str, optional
        Name shown to the user and used for the download files; default: the file name.
    viewport : float, optional
        Width of the browser page in px (the views are drawn to fit it); default 1400 px.
    """
    path = Path(path)
    name = name or path.name
    with _file_lock(path):
        result = eeg_vlm.stage_night(path, model=model_spec(), progress=False)
    n = len(result)
    stem = Path(name).stem
    out = _new_output_dir()
    files = [str(result.to_csv(out / f"{stem}.hypnogram.csv")), str(result.to_edf(out / f"{stem}.hypnogram.edf"))]
    rec = _recording(str(path), result.channel, path.stat().st_mtime)
    night = {"path": str(path), "name": name, "channel": result.channel, "n_epochs": n, "stages": list(result.stages),
             "probabilities": result.probabilities.tolist(), "confidence": result.confidence.tolist(),
             "start": result.start_datetime, "spectrogram": night_spectrogram(rec.data, rec.sampling_rate),
             "width": _width(viewport), "reference": None}
    night["view"] = _render_night(night)
    counts = ", ".join(f"{s} {result.stages.count(s)}" for s in (*STAGES, "UNS") if result.stages.count(s))
    low = _low_confidence(night)
    status = (f"**{name}**: {n} epochs of 30 s ({n / 120:.1f} h) staged from channel `{result.channel}` "
              f"({counts}). {len(low)} epochs have a confidence below {LOW_CONFIDENCE:.0%} (shaded orange). "
              "Click the hypnogram or a table row, type an epoch number, or use the keys ← / → (previous / next "
              "epoch) and L (next low-confidence epoch).")
    return (_with_cursor(night, None), _stage_table(result), _summary_table(result.summary()), files, night, 0,
            status)


def stage_upload(file, viewport=None) -> tuple:
    """Handler of 'Stage the uploaded night': check the upload, then :func:`stage_path`."""
    with _shown_to_user("cannot stage this night"):
        path = check_upload(file)
        out = stage_path(path, name=path.name, viewport=viewport)
        _SELECTED.pop(_session() or "", None)  # a new night: no selection yet (its epoch 0 is shown)
        return out


def stage_sample(viewport=None) -> tuple:
    """Handler of 'Stage the sample night': the simulated Sleep-EDFx-format night bundled with eeg-vlm."""
    with _shown_to_user("cannot stage the sample night"):
        out = stage_path(eeg_vlm.sample_night_path(), viewport=viewport)
        _SELECTED.pop(_session() or "", None)  # a new night: no selection yet (its epoch 0 is shown)
        return out


# -------------------------------------------------------------------------------------------------- one epoch
def _check_epoch(epoch, night) -> int:
    if not night:
        raise ValueError("epoch: no night is staged yet. Upload an EDF and click 'Stage the uploaded night', "
                         "or click 'Stage the sample night', then pick an epoch.")
    n = night["n_epochs"]
    try:
        whole = float(epoch).is_integer()
    except (TypeError, ValueError):
        whole = False
    if isinstance(epoch, bool) or not whole or not 0 <= int(epoch) < n:
        raise ValueError(f"epoch: received {epoch!r}, expected a whole number from 0 to {n - 1} "
                         f"(this night has {n} epochs of 30 s).")
    return int(epoch)


def _clock(night: dict, epoch: int) -> str:
    """Clock time of an epoch's onset (or the time from the start when the recording has no start time)."""
    from datetime import timedelta

    onset = epoch * 30.0
    if night.get("start") is not None:
        return (night["start"] + timedelta(seconds=onset)).strftime("%H:%M:%S")
    return f"{int(onset // 3600)}:{int(onset % 3600 // 60):02d}:{int(onset % 60):02d} after the start"


def _low_confidence(night: dict) -> list[int]:
    conf = np.asarray(night["confidence"], dtype=float)
    return [i for i, (c, s) in enumerate(zip(conf, night["stages"])) if s != "UNS" and c < LOW_CONFIDENCE]


def _model_view(night: dict, rec, epoch: int) -> np.ndarray:
    """The model's input image of one epoch (its neighbours in grey), upscaled for display."""
    _, processor = load_staging_model(model_spec())
    renderer = processor.image_processor
    c, spe = renderer.context_epochs, rec.samples_per_epoch
    first, last = max(0, epoch - c), min(rec.n_epochs, epoch + c + 1)
    window = eeg_vlm.epochs_with_context(rec.data[first * spe : last * spe], rec.sampling_rate, c,
                                         epoch_seconds=renderer.epoch_seconds)[epoch - first : epoch - first + 1]
    image = renderer.render(window, rec.sampling_rate)[0]
    scale = -(-DISPLAY_MIN_PX // image.shape[0])  # ceil: an integer factor keeps the pixels sharp
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _eog_emg(night: dict, first: int, last: int):
    """EOG / chin EMG of epochs first..last as (label, signal, rate) rows, and the whole-night (eog, emg) epochs."""
    path = Path(night["path"])
    with _file_lock(path):
        (eog, emg), names = _read_eog_emg(str(path), night["n_epochs"], path.stat().st_mtime)
    return [(names[k], x[first:last].reshape(-1), x.shape[1] / 30.0) for k, x in (("eog", eog), ("emg", emg))
            if x is not None], (eog, emg)


def show_epoch(epoch, night) -> tuple:
    """Handler of epoch selection: (epoch page, model input image, stage probabilities, caption, night view with
    the cursor, reasoning panel marked as pending for this epoch, the epoch shown)."""
    with _shown_to_user("cannot show this epoch"):
        epoch = _check_epoch(epoch, night)
        if _stale(epoch):  # another epoch was selected meanwhile: leave the page to its answer
            return (gr.skip(),) * 7
        rec = _night_recording(night)
        width = night["width"]
        first, last = max(0, epoch - 1), min(night["n_epochs"], epoch + 2)
        spe = rec.samples_per_epoch
        others, _ = _eog_emg(night, first, last)
        signals = [(night["channel"], rec.data[first * spe : last * spe], rec.sampling_rate), *others]
        spec = night["spectrogram"].power_db
        page = plot_epoch(signals, epoch, first_epoch=first, stages=night["stages"], start_datetime=night["start"],
                          context_sec=30.0 if width >= NARROW_PX else 5.0, width_px=width,
                          spectrogram_limits=(float(np.percentile(spec, 2.5)), float(np.percentile(spec, 97.5))))
        stage = night["stages"][epoch]
        probs = None if stage == "UNS" else {s: float(v) for s, v in zip(STAGES, night["probabilities"][epoch])}
        caption = f"Epoch {epoch} ({_clock(night, epoch)}): **{stage}**"
        if stage == "UNS":
            caption += " (unscorable: flat signal or a gap in the recording)"
        elif night["confidence"][epoch] < LOW_CONFIDENCE:
            caption += f", low confidence ({night['confidence'][epoch]:.0%}): check it"
        if night.get("reference") and night["reference"][epoch]:
            caption += f"; the scorer: **{night['reference'][epoch]}**"
        pending = (f"<div class='reasoning-head'>Reasoning for epoch {epoch} ({_clock(night, epoch)}): "
                   "<em>being written…</em></div>")
        if _stale(epoch):
            return (gr.skip(),) * 7
        return (_to_image(page)[0], _model_view(night, rec, epoch), probs, caption, _with_cursor(night, epoch),
                pending, epoch)


def explain(epoch, night) -> str:
    """Handler of epoch selection: the model's stage-wise reasoning for one epoch, as HTML, headed with its epoch;
    flagged claims highlighted in the text and listed first, each claim listed once.

    Only the epoch and its context neighbours are passed to ``eeg_vlm.stage_night``: the model sees the same
    image as in the whole night, without re-staging the night, and the night's stages (``night_stages``) for the
    staging its prompt states and its text cites.
    """
    with _shown_to_user("cannot explain this epoch"):
        epoch = _check_epoch(epoch, night)
        if _stale(epoch):  # another epoch was selected meanwhile: do not spend seconds on this one
            return gr.skip()
        head = f"Reasoning for epoch {epoch} ({_clock(night, epoch)}), stage {night['stages'][epoch]}"
        if night["stages"][epoch] == "UNS":
            return (f"<div class='reasoning-head'>{head}</div><p>Epoch {epoch} is unscorable (flat signal or a gap "
                    "in the recording): the model gives no stage and no reasoning for it.</p>")
        rec = _night_recording(night)
        _, processor = load_staging_model(model_spec())
        c, spe, n = processor.image_processor.context_epochs, rec.samples_per_epoch, night["n_epochs"]
        first, last = max(0, epoch - c), min(n, epoch + c + 1)
        _, (eog, emg) = _eog_emg(night, first, last)
        eog_emg = tuple(None if x is None else x[first:last] for x in (eog, emg))
        result = eeg_vlm.stage_night(rec.data[first * spe : last * spe], sampling_rate=rec.sampling_rate,
                                     model=model_spec(), explain=[epoch - first], eog_emg=eog_emg, progress=False,
                                     night_stages=night["stages"], night_offset=first)
        if _stale(epoch):
            return gr.skip()
        return reasoning_html(head, result.reasoning[epoch - first], result.claims[epoch - first])


def group_claims(claims) -> list[dict]:
    """Checked claims grouped by the phrase they come from: one entry per sentence, ``ok`` only if all its numbers
    hold. ``eeg_vlm.reasoning.faithfulness.check_claims`` gives one claim per number, so a neighbour sentence ("In the
    previous epoch, slow waves covered ... with ... spindles and ... K-complexes") arrives four times."""
    grouped: dict[str, dict] = {}
    for c in claims or []:
        if c["ok"] is None:
            continue
        entry = grouped.setdefault(c["text"], {"text": c["text"], "ok": True, "wrong": []})
        if not c["ok"]:
            entry["ok"] = False
            entry["wrong"].append(f"{c['type'].replace('_', ' ')} measured {_measured(c['measured'])}")
    return list(grouped.values())


def reasoning_html(head: str, text: str, claims) -> str:
    """The reasoning as HTML: the checks first (flagged ones in red), then the text with flagged phrases marked."""
    groups = group_claims(claims)
    body = html.escape(text or "")
    for g in groups:
        if not g["ok"]:
            phrase = html.escape(g["text"])
            body = body.replace(phrase, f"<mark class='flagged' title='{html.escape('; '.join(g['wrong']))}'>"
                                        f"{phrase}</mark>", 1)
    parts = [f"<div class='reasoning-head'>{html.escape(head)}</div>"]
    if groups:
        held = sum(g["ok"] for g in groups)
        parts.append(f"<p class='claims-summary'>Claims checked against the features measured on this epoch: "
                     f"<b>{held}/{len(groups)} hold</b></p><ul class='claims'>")
        for g in sorted(groups, key=lambda g: g["ok"]):  # flagged first
            mark = "✓" if g["ok"] else "✗ FLAGGED"
            extra = "" if g["ok"] else f" <span class='measured'>({html.escape('; '.join(g['wrong']))})</span>"
            parts.append(f"<li class='{'ok' if g['ok'] else 'flagged'}'>{mark} {html.escape(g['text'])}{extra}</li>")
        parts.append("</ul>")
    parts.append(f"<div class='reasoning-text'>{body}</div>")
    return "".join(parts)


def format_claims(claims) -> str:
    """The checked claims as plain text, one line per sentence: ✓ (holds) or ✗ FLAGGED with the measured values."""
    groups = group_claims(claims)
    if not groups:
        return ""
    lines = [f"{'✓' if g['ok'] else '✗ FLAGGED'} {g['text']}" + ("" if g["ok"] else f" ({'; '.join(g['wrong'])})")
             for g in groups]
    return (f"\n\nClaims checked against the features measured on this epoch: {sum(g['ok'] for g in groups)}/"
            f"{len(groups)} hold\n" + "\n".join(lines))


def _measured(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


# -------------------------------------------------------------------------------------------------- navigation
def typed_epoch(epoch, night) -> int:
    """Handler of an epoch number typed in the page (checked before anything is drawn)."""
    with _shown_to_user("cannot show this epoch"):
        return _select(_check_epoch(epoch, night))


def select_row(night, evt: gr.SelectData) -> int:
    """Handler of a click in the stage table: the epoch of the clicked row."""
    with _shown_to_user("cannot show this epoch"):
        return _select(_check_epoch(evt.index[0], night))


def select_on_night(night, evt: gr.SelectData) -> int:
    """Handler of a click on the night view: the epoch under the pointer (anywhere over the hypnogram or the
    spectrogram)."""
    with _shown_to_user("cannot show this epoch"):
        if not night:
            return _check_epoch(None, night)
        view, x = night["view"], evt.index[0]
        if not view["x0"] <= x <= view["x1"]:
            raise ValueError("epoch: click inside the hypnogram or the spectrogram to pick an epoch.")
        return _select(min(int((x - view["x0"]) / (view["x1"] - view["x0"]) * night["n_epochs"]),
                           night["n_epochs"] - 1))


def step_epoch(epoch, night, step: int) -> int:
    """The epoch ``step`` away from ``epoch`` (kept inside the night)."""
    with _shown_to_user("cannot show this epoch"):
        if not night:
            return _check_epoch(None, night)
        current = int(epoch) if isinstance(epoch, (int, float)) and np.isfinite(epoch) else -step
        return _select(int(np.clip(current + step, 0, night["n_epochs"] - 1)))


def next_low_confidence(epoch, night) -> int:
    """The next epoch after ``epoch`` whose confidence is below ``LOW_CONFIDENCE`` (from the start after the last)."""
    with _shown_to_user("cannot show this epoch"):
        if not night:
            return _check_epoch(None, night)
        low = _low_confidence(night)
        if not low:
            raise ValueError(f"epoch: no epoch of this night has a confidence below {LOW_CONFIDENCE:.0%}.")
        current = int(epoch) if isinstance(epoch, (int, float)) and np.isfinite(epoch) else -1
        return _select(next((i for i in low if i > current), low[0]))


# -------------------------------------------------------------------------------------------------- reference
def compare_reference(file, night) -> tuple:
    """Handler of 'Compare': (summary, per-stage table, confusion matrix, night view with both hypnograms, state)."""
    with _shown_to_user("cannot compare with this hypnogram"):
        if not night:
            raise ValueError("reference: stage a night first, then upload its scorer's hypnogram.")
        if file is None:
            raise ValueError("reference: nothing was uploaded. Upload the scorer's hypnogram of this night "
                             "(Sleep-EDFx '*-Hypnogram.edf' or a CSV with a 'stage' column).")
        return _compare(read_reference(file, n_epochs=night["n_epochs"], start_datetime=night["start"]), night)


def compare_sample_reference(night) -> tuple:
    """Handler of 'Compare with the sample's scorer': the bundled night's own hypnogram."""
    with _shown_to_user("cannot compare with this hypnogram"):
        sample = eeg_vlm.sample_night_path()
        if not night or Path(night["path"]) != sample:
            raise ValueError("reference: the bundled scorer's hypnogram belongs to the sample night: click 'Stage "
                             "the sample night' first, or upload the hypnogram of your own night.")
        hypnogram = next(sample.parent.glob("*-Hypnogram.edf"))
        return _compare(read_reference(hypnogram, n_epochs=night["n_epochs"], start_datetime=night["start"]), night)


def _compare(ref, night) -> tuple:
    m = compare_with_reference(night["stages"], ref.stages)
    night = {**night, "reference": ref.stages}
    night["view"] = _render_night(night)
    summary = (f"**{ref.name}**: {m['n']} epochs compared ({m['n_left_out']} left out: not scored by the scorer "
               f"or unscorable). Agreement **{m['accuracy']:.1%}**, Cohen's kappa **{m['cohen_kappa']:.3f}**, "
               f"macro-F1 {m['macro_f1']:.3f}. The scorer's hypnogram is drawn dashed on the night view.")
    per_stage = [[s, v["support"], round(v["precision"], 3), round(v["recall"], 3), round(v["f1"], 3)]
                 for s, v in m["per_stage"].items()]
    confusion = [[f"scorer {s}", *row] for s, row in zip(STAGES, m["confusion_matrix"])]
    return summary, per_stage, confusion, _with_cursor(night, None), night


# -------------------------------------------------------------------------------------------------- the page
CSS = """
.reasoning-head {font-weight: 600; margin-bottom: .4em}
.app-error {border: 2px solid #c1121f; background: #fff0f0; border-radius: 6px; padding: .6em .9em; margin: .3em 0}
.app-error-title {font-weight: 700; color: #8b0000; margin-bottom: .2em}
.app-error-text {color: #3d0000}
#reasoning mark.flagged {background: #ffd6d6; color: #8b0000; border-bottom: 2px solid #c1121f}
#reasoning li.flagged {color: #8b0000; font-weight: 600}
#reasoning li.ok {color: #2d6a4f}
#reasoning ul.claims {margin: .2em 0 .8em 1.2em; padding: 0}
#reasoning .reasoning-text {white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .9em}
/* the whole download name, wrapped on a phone (Gradio cuts the stem with an ellipsis) */
#downloads td.filename > span {display: none !important}
#downloads td.filename::before {content: attr(aria-label); white-space: normal; overflow-wrap: anywhere}
#night-view img, #epoch-view img {width: 100%; height: auto; object-fit: contain}
@media (max-width: 700px) {
  .stack-narrow {flex-direction: column !important}
  .stack-narrow > * {width: 100% !important; min-width: 0 !important}
}
"""
# keys: <- / -> previous / next epoch, L next low-confidence epoch (not while typing in a field)
KEYS_JS = """
() => {
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' ||
        t.isContentEditable))) return;
    const id = {ArrowLeft: 'prev-epoch', ArrowRight: 'next-epoch', l: 'next-low', L: 'next-low'}[e.key];
    const button = id && document.getElementById(id);
    if (button) { e.preventDefault(); button.click(); }
  });
}
"""


def build_demo() -> gr.Blocks:
    """The Space's interface (nothing is launched)."""
    with gr.Blocks(title=f"{APP_TITLE} sleep staging", delete_cache=(KEEP_SECONDS, KEEP_SECONDS)) as demo:
        night = gr.State(None)  # per session: see stage_path
        selected = gr.State(None)  # the epoch on screen (the field may hold a refused number)
        viewport = gr.Number(DEFAULT_WIDTH_PX, visible=False)  # page width in px, set by the browser at load
        gr.Markdown(
            f"# {APP_TITLE}: explainable sleep staging\n"
            "Upload a night recorded as **EDF/EDF+** (any EEG channel, e.g. Fpz-Cz, C4-M1; at least 50 Hz) or try "
            "the bundled simulated sample night. Every 30-s epoch gets a stage (W, N1, N2, N3, REM) with its "
            "probabilities; pick an epoch to read its EEG, EOG and EMG and the model's stage-wise reasoning. "
            f"Uploads up to {MAX_UPLOAD_MB:.0f} MB. A research tool, not a medical device.")
        with gr.Row(elem_classes="stack-narrow"):
            upload = gr.File(label="EDF recording", file_types=[".edf", ".bdf"], type="filepath")
            with gr.Column():
                stage_btn = gr.Button("Stage the uploaded night", variant="primary", elem_id="stage-upload")
                sample_btn = gr.Button("Stage the sample night", elem_id="stage-sample")
        stage_message = gr.HTML(elem_id="stage-message", padding=False)
        status = gr.Markdown(elem_id="status")
        gr.Markdown("**The night**: hypnogram on clock time over the EEG spectrogram; click it to pick an epoch.",
                    elem_classes="view-title")
        night_view = gr.Image(label="The night", show_label=False, type="numpy", format="png", interactive=False,
                              elem_id="night-view", buttons=["download", "fullscreen"])
        with gr.Row(elem_classes="stack-narrow"):
            prev_btn = gr.Button("← Previous epoch", elem_id="prev-epoch", size="sm")
            epoch = gr.Number(label="Epoch (type a number, then Enter)", precision=None, elem_id="epoch",
                              min_width=120)
            next_btn = gr.Button("Next epoch →", elem_id="next-epoch", size="sm")
            low_btn = gr.Button("Next low-confidence epoch (L)", elem_id="next-low", size="sm")
        epoch_message = gr.HTML(elem_id="epoch-message", padding=False)
        caption = gr.Markdown(elem_id="epoch-caption")
        epoch_view = gr.Image(label="The epoch with its neighbours", show_label=False, type="numpy", format="png",
                              interactive=False, elem_id="epoch-view", buttons=["download", "fullscreen"])
        with gr.Row(elem_classes="stack-narrow"):
            reasoning = gr.HTML(label="Stage-wise reasoning", elem_id="reasoning", min_height=80,
                                value="<div class='reasoning-head'>Reasoning: pick an epoch.</div>")
            with gr.Column(min_width=240):
                probs = gr.Label(label="Stage probabilities", num_top_classes=5, elem_id="epoch-probs")
                with gr.Accordion("What the model sees (its input image)", open=False):
                    # PNG: lossless, the thin EEG trace stays exactly as the model sees it (webp blurs it)
                    image = gr.Image(label="Model input: scored epoch in the middle, neighbours in grey", type="numpy",
                                     format="png", interactive=False, elem_id="epoch-image")
        with gr.Row(elem_classes="stack-narrow"):
            summary = gr.Dataframe(headers=["statistic", "value", "unit"], label="Sleep summary", interactive=False,
                                   elem_id="summary", wrap=True, column_widths=["60%", "20%", "20%"])
            downloads = gr.File(label="Downloads (CSV, EDF+ hypnogram)", file_count="multiple", elem_id="downloads")
        table = gr.Dataframe(label="Stages per epoch (click a row to inspect it)", interactive=False,
                             max_height=320, elem_id="stages")
        gr.Markdown("## Compare with a scorer")
        with gr.Row(elem_classes="stack-narrow"):
            ref_file = gr.File(label="Scorer's hypnogram (Sleep-EDFx EDF+ or CSV with a 'stage' column)",
                               file_types=[".edf", ".csv", ".txt"], type="filepath", elem_id="reference-file")
            with gr.Column():
                ref_btn = gr.Button("Compare", variant="primary", elem_id="compare")
                ref_sample_btn = gr.Button("Compare the sample night with its scorer", elem_id="compare-sample")
        compare_message = gr.HTML(elem_id="compare-message", padding=False)
        agreement = gr.Markdown(elem_id="agreement")
        with gr.Row(elem_classes="stack-narrow"):
            per_stage = gr.Dataframe(headers=["stage", "epochs (scorer)", "precision", "recall", "F1"],
                                     label="Per stage (the scorer as truth)", interactive=False, elem_id="per-stage")
            confusion = gr.Dataframe(headers=["", *(f"EEG-VLM {s}" for s in STAGES)], interactive=False,
                                     label="Confusion matrix (rows: scorer, columns: EEG-VLM)", elem_id="confusion")

        demo.load(None, None, viewport, js="() => window.innerWidth")
        shown = [epoch_view, image, probs, caption, night_view, reasoning, selected]

        def failing(event, panel):
            """Show the message of a failed action in ``panel``, beside the control that triggered it."""
            event.failure(error_panel, None, panel, api_visibility="private", show_progress="hidden")
            return event

        def then_show(event, *, api=False):
            """Show the selected epoch, then explain it (one chain per way of selecting an epoch)."""
            visibility = "public" if api else "undocumented"
            shown_event = failing(event, epoch_message).success(
                show_epoch, [epoch, night], shown, api_name="show_epoch" if api else None, api_visibility=visibility,
                concurrency_limit=4)
            explained = failing(shown_event, epoch_message).success(
                explain, [epoch, night], reasoning, concurrency_limit=4, api_name="explain" if api else None,
                api_visibility=visibility)
            failing(explained, epoch_message)

        # typing an epoch carries the documented API: /show_epoch(epoch) and /explain(epoch), on the session's night
        # the selection steps only set the epoch field: no spinner, and a refusal is told in the panel, not by a badge
        then_show(epoch.submit(typed_epoch, [epoch, night], epoch, api_visibility="private", show_progress="hidden"),
                  api=True)
        staged = [night_view, table, summary, downloads, night, epoch, status]
        for button, fn, inputs in ((stage_btn, stage_upload, [upload, viewport]),
                                   (sample_btn, stage_sample, [viewport])):
            staging = failing(button.click(fn, inputs, staged, concurrency_limit=2), stage_message)
            then_show(staging.success(lambda: "", None, stage_message, api_visibility="private"))
        selections = {
            prev_btn.click: (lambda e, n: step_epoch(e, n, -1), [selected, night]),
            next_btn.click: (lambda e, n: step_epoch(e, n, +1), [selected, night]),
            low_btn.click: (next_low_confidence, [selected, night]),
            table.select: (select_row, [night]),
            night_view.select: (select_on_night, [night]),
        }
        for trigger, (fn, inputs) in selections.items():
            then_show(trigger(fn, inputs, epoch, api_visibility="private", show_progress="hidden"))
        panels = [stage_message, epoch_message, compare_message]
        for trigger in [epoch.submit, stage_btn.click, sample_btn.click, *selections]:
            trigger(None, None, panels, js="() => ['', '', '']")  # a new action clears the old messages
        ref_outputs = [agreement, per_stage, confusion, night_view, night]
        for button, fn, inputs in ((ref_btn, compare_reference, [ref_file, night]),
                                   (ref_sample_btn, compare_sample_reference, [night])):
            button.click(None, None, compare_message, js="() => ''")
            failing(button.click(fn, inputs, ref_outputs), compare_message)
    return demo


def launch_options() -> dict:
    """Keyword arguments of ``demo.launch()``: upload limit (also checked in :func:`check_upload`), CSS, keys."""
    return {"max_file_size": max_upload_bytes(), "css": CSS, "js": KEYS_JS}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:  # load the model now so the first visitor does not wait for it
        load_staging_model(model_spec())
    except ValueError as err:
        logger.warning("Model not loaded at start (%s); each request will report it.", err)
    build_demo().launch(**launch_options())
