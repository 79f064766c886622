"""EEG-VLM Gradio Space: stage a night from an EDF, read its hypnogram, ask the model why for any epoch.

Run locally (from the project root, with the package installed: ``pip install -e .``)::

    python space/app.py                                   # http://127.0.0.1:7860, embedded default model
    EEG_VLM_MODEL=runs/default/final python space/app.py  # another model: a directory or a Hub id

Environment
-----------
EEG_VLM_MODEL
    Model to stage with: a directory or a Hub id. Unset (default): the model embedded in the package.
EEG_VLM_MAX_UPLOAD_MB
    Largest accepted upload in MB (default 200).

Every event handler below is a pure function of its inputs: the night being viewed lives in a per-session
``gr.State`` (a plain dict), so sessions never share mutable state. The only process-wide object is the loaded
model, read-only and cached by ``eeg_vlm.staging.load_staging_model``. ``launch()`` runs only under ``__main__``.
Tests: ``cd /work/main && python -m pytest tests/test_space.py -q``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import numpy as np

import eeg_vlm
from eeg_vlm.io import load_recording
from eeg_vlm.io.eog_emg import read_eog_emg
from eeg_vlm.staging import load_staging_model

logger = logging.getLogger(__name__)

STAGES = ("W", "N1", "N2", "N3", "REM")
# 200 MB: a Sleep-EDFx PSG is ~50 MB and a few-channel 8-h export at 256 Hz stays below it, while the upload still
# finishes in about a minute on a 30 Mbit/s link. Raise it with EEG_VLM_MAX_UPLOAD_MB for full clinical montages.
MAX_UPLOAD_MB = float(os.environ.get("EEG_VLM_MAX_UPLOAD_MB", "200"))
EDF_MAGICS = (b"0       ", b"\xffBIOSEMI")  # first 8 header bytes of EDF/EDF+ and of BDF files
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "eeg-vlm-space"  # one sub-directory of downloads per staging request
KEEP_SECONDS = 3600  # downloads and uploads are kept 1 h (Gradio's cache too: Blocks(delete_cache=...))
DISPLAY_MIN_PX = 448  # epoch images are upscaled (nearest neighbour) to at least this size for display only

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


@contextmanager
def _shown_to_user():
    """Turn a ``ValueError`` (whose message says what to fix) into a ``gr.Error`` shown in the page."""
    try:
        yield
    except ValueError as err:
        message = str(err)
        if message.startswith("model:"):  # the fix in a Space is a variable, not a Python argument
            message += (" In this Space, set the variable EEG_VLM_MODEL to a model directory or Hub id "
                        "(Settings > Variables and secrets).")
        raise gr.Error(message, title="Cannot stage this night") from err


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
            "Export only the EEG channel(s) to a smaller EDF, or run eeg-vlm locally (`pip install eeg-vlm`, then "
            "`eeg-vlm stage NIGHT.edf`), which has no size limit.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head not in EDF_MAGICS:
        raise ValueError(
            f"file: {path.name!r} is not an EDF file (its first bytes are {head!r}, an EDF header starts with "
            "'0' and 7 spaces). Expected a European Data Format recording (.edf/.bdf, e.g. a Sleep-EDFx "
            "'*-PSG.edf'): export the night as EDF from your acquisition software.")
    return path


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


def stage_path(path, *, name: str | None = None) -> tuple:
    """Stage one night and return (plot, stage table, summary, download files, night state, epoch slider, status).

    Parameters
    ----------
    path : str or Path
        An EDF/EDF+ recording already checked with :func:`check_upload` (or the bundled sample).
    name : str, optional
        Name shown to the user and used for the download files; default: the file name.
    """
    path = Path(path)
    name = name or path.name
    result = eeg_vlm.stage_night(path, model=model_spec(), progress=False)
    n = len(result)
    stem = Path(name).stem
    out = _new_output_dir()
    files = [str(result.to_csv(out / f"{stem}.hypnogram.csv")), str(result.to_edf(out / f"{stem}.hypnogram.edf"))]
    fig = result.plot(title=f"{name} - channel {result.channel}")
    night = {"path": str(path), "name": name, "channel": result.channel, "n_epochs": n,
             "stages": list(result.stages), "probabilities": result.probabilities.tolist()}
    counts = ", ".join(f"{s} {result.stages.count(s)}" for s in (*STAGES, "UNS") if result.stages.count(s))
    status = (f"**{name}**: {n} epochs of 30 s ({n / 120:.1f} h) staged from channel `{result.channel}` "
              f"({counts}). Pick an epoch below, or click a row of the table, to see why.")
    slider = gr.Slider(minimum=0, maximum=max(n - 1, 0), value=0, step=1, interactive=True)
    return fig, _stage_table(result), _summary_table(result.summary()), files, night, slider, status


def stage_upload(file) -> tuple:
    """Handler of 'Stage the uploaded night': check the upload, then :func:`stage_path`."""
    with _shown_to_user():
        path = check_upload(file)
        return stage_path(path, name=path.name)


def stage_sample() -> tuple:
    """Handler of 'Stage the sample night': the simulated Sleep-EDFx-format night bundled with eeg-vlm."""
    with _shown_to_user():
        return stage_path(eeg_vlm.sample_night_path())


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


def _segment(night: dict, epoch: int, context: int, *, with_eog_emg: bool = False):
    """The epoch with ``context`` neighbours on each side (fewer at the edges), in uV at 100 Hz, and its index
    (and, ``with_eog_emg``, the EOG / chin EMG epochs of the same span, for the explanation)."""
    if not Path(night["path"]).exists():
        raise ValueError(f"epoch: the recording {night['name']!r} of this session is no longer on the server "
                         f"(uploads are kept {KEEP_SECONDS // 60} min). Upload it again and stage it.")
    rec = load_recording(night["path"], channel=night["channel"])
    n = rec.samples_per_epoch
    first, last = max(0, epoch - context), min(rec.n_epochs, epoch + context + 1)
    if not with_eog_emg:
        return rec.data[first * n : last * n], rec.sampling_rate, epoch - first
    eog, emg, _ = read_eog_emg(night["path"], n_epochs=rec.n_epochs, epoch_sec=rec.epoch_sec)
    eog_emg = tuple(None if x is None else x[first:last] for x in (eog, emg))
    return rec.data[first * n : last * n], rec.sampling_rate, epoch - first, eog_emg


def show_epoch(epoch, night) -> tuple:
    """Handler of epoch selection: (rendered image, stage probabilities, caption) of one epoch.

    The image is exactly what the model sees: the 30-s epoch in the middle, its neighbours in grey.
    """
    with _shown_to_user():
        epoch = _check_epoch(epoch, night)
        _, processor = load_staging_model(model_spec())
        renderer = processor.image_processor
        segment, rate, local = _segment(night, epoch, renderer.context_epochs)
        window = eeg_vlm.epochs_with_context(segment, rate, renderer.context_epochs,
                                             epoch_seconds=renderer.epoch_seconds)[local : local + 1]
        image = renderer.render(window, rate)[0]
        scale = -(-DISPLAY_MIN_PX // image.shape[0])  # ceil: integer factor keeps the pixels sharp
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
        stage = night["stages"][epoch]
        p = night["probabilities"][epoch]
        probs = None if stage == "UNS" else {s: float(v) for s, v in zip(STAGES, p)}
        onset = epoch * renderer.epoch_seconds
        caption = (f"Epoch {epoch} ({int(onset // 3600)}:{int(onset % 3600 // 60):02d}:{int(onset % 60):02d} "
                   f"after the start): **{stage}**")
        if stage == "UNS":
            caption += " (unscorable: flat signal or a gap in the recording)"
        return image, probs, caption


def explain(epoch, night) -> str:
    """Handler of epoch selection: the model's stage-wise reasoning (Chain-of-Thought) for one epoch.

    Only the epoch and its context neighbours are passed to ``eeg_vlm.explain_epoch``: the model sees the same
    image as in the whole night, without re-staging the night.
    """
    with _shown_to_user():
        epoch = _check_epoch(epoch, night)
        if night["stages"][epoch] == "UNS":
            return (f"Epoch {epoch} is unscorable (flat signal or a gap in the recording): the model gives no stage "
                    "and no reasoning for it.")
        _, processor = load_staging_model(model_spec())
        segment, rate, local, eog_emg = _segment(night, epoch, processor.image_processor.context_epochs,
                                                 with_eog_emg=True)
        result = eeg_vlm.stage_night(segment, sampling_rate=rate, model=model_spec(), explain=[local],
                                     eog_emg=eog_emg, progress=False)
        return result.reasoning[local] + format_claims(result.claims[local])


def format_claims(claims) -> str:
    """The checkable claims of a reasoning, each marked as checked (✓) or flagged (✗) against the measured epoch."""
    checked = [c for c in (claims or []) if c["ok"] is not None]
    if not checked:
        return ""
    lines = [f"{'✓' if c['ok'] else '✗ FLAGGED'} {c['text']}"
             + ("" if c["ok"] else f" (measured: {_measured(c['measured'])})") for c in checked]
    held = sum(c["ok"] for c in checked)
    return (f"\n\nClaims checked against the features measured on this epoch: {held}/{len(checked)} hold\n"
            + "\n".join(lines))


def _measured(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def select_row(night, evt: gr.SelectData) -> int:
    """Handler of a click in the stage table: the epoch of the clicked row."""
    with _shown_to_user():
        return _check_epoch(evt.index[0], night)


def build_demo() -> gr.Blocks:
    """The Space's interface (nothing is launched)."""
    with gr.Blocks(title="EEG-VLM sleep staging", delete_cache=(KEEP_SECONDS, KEEP_SECONDS)) as demo:
        night = gr.State(None)  # per session: {path, name, channel, n_epochs, stages, probabilities}
        gr.Markdown(
            "# EEG-VLM: explainable sleep staging\n"
            "Upload a night recorded as **EDF/EDF+** (any EEG channel, e.g. Fpz-Cz, C4-M1; at least 50 Hz) or try "
            "the bundled simulated sample night. Every 30-s epoch gets a stage (W, N1, N2, N3, REM) with "
            "probabilities; pick an epoch to see the image the model reads and its stage-wise reasoning. "
            f"Uploads up to {MAX_UPLOAD_MB:.0f} MB. A research tool, not a medical device.")
        with gr.Row():
            upload = gr.File(label="EDF recording", file_types=[".edf", ".bdf"], type="filepath")
            with gr.Column():
                stage_btn = gr.Button("Stage the uploaded night", variant="primary", elem_id="stage-upload")
                sample_btn = gr.Button("Stage the sample night", elem_id="stage-sample")
        status = gr.Markdown(elem_id="status")
        plot = gr.Plot(label="Hypnogram and stage probabilities", format="png", elem_id="hypnogram")
        with gr.Row():
            summary = gr.Dataframe(headers=["statistic", "value", "unit"], label="Sleep summary", interactive=False,
                                   elem_id="summary")
            downloads = gr.File(label="Downloads (CSV, EDF+ hypnogram)", file_count="multiple", elem_id="downloads")
        table = gr.Dataframe(label="Stages per epoch (click a row to inspect it)", interactive=False,
                             max_height=320, elem_id="stages")
        gr.Markdown("## One epoch")
        epoch = gr.Slider(0, 1, value=0, step=1, label="Epoch", interactive=False, elem_id="epoch")
        caption = gr.Markdown(elem_id="epoch-caption")
        with gr.Row():
            # PNG: lossless, the thin EEG trace stays exactly as the model sees it (webp, the default, blurs it)
            image = gr.Image(label="What the model sees (scored epoch in the middle)", type="numpy", format="png",
                             interactive=False, elem_id="epoch-image")
            probs = gr.Label(label="Stage probabilities", num_top_classes=5, elem_id="epoch-probs")
        reasoning = gr.Textbox(label="Stage-wise reasoning", lines=8, interactive=False, elem_id="reasoning")

        outputs = [plot, table, summary, downloads, night, epoch, status]
        stage_btn.click(stage_upload, inputs=upload, outputs=outputs)
        sample_btn.click(stage_sample, inputs=None, outputs=outputs)
        epoch.release(show_epoch, inputs=[epoch, night], outputs=[image, probs, caption]).success(
            explain, inputs=[epoch, night], outputs=reasoning)
        # the same two steps after a click in the table; kept out of the API page (it duplicates the slider's)
        table.select(select_row, inputs=night, outputs=epoch, api_visibility="undocumented").success(
            show_epoch, inputs=[epoch, night], outputs=[image, probs, caption], api_visibility="undocumented").success(
            explain, inputs=[epoch, night], outputs=reasoning, api_visibility="undocumented")
    return demo


def launch_options() -> dict:
    """Keyword arguments of ``demo.launch()`` (the upload limit is also checked in :func:`check_upload`)."""
    return {"max_file_size": max_upload_bytes()}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:  # load the model now so the first visitor does not wait for it
        load_staging_model(model_spec())
    except ValueError as err:
        logger.warning("Model not loaded at start (%s); each request will report it.", err)
    build_demo().launch(**launch_options())
