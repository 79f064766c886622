"""Build a rendered ``datasets.DatasetDict`` from Sleep-EDFx nights (real or simulated).

    python -m eeg_vlm.dataset_builder build --source data/sim --out data/sleep-edfx-vlm

Every scored 30-s epoch becomes one row: the rendered image (the model's own renderer, so training and inference
see the same pixels), the AASM stage, the measured features, a Chain-of-Thought written from them, and the
chat-format ``messages`` + ``images`` that TRL's SFTTrainer reads. Subjects are split deterministically into
train/validation/test (both nights of a subject in one split).

Resumable and atomic: each night is rendered into ``<out>.incomplete/nights/<name>.parquet`` (temp file, then
rename), so an interrupted build resumes where it stopped; the final dataset is written to a temporary folder
and renamed to ``<out>`` only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from ..feature_extraction_eeg_vlm import MEASUREMENT_NAMES as FEATURE_NAMES
from ..feature_extraction_eeg_vlm import EEGVLMFeatureExtractor
from ..image_processing_eeg_vlm import EEGVLMImageProcessor
from ..processing_eeg_vlm import STAGING_PROMPT
from ..reasoning.cot import make_cot
from .sleep_edfx import CHANNELS, STAGES, NightFiles, open_edf, pair_files, read_night

logger = logging.getLogger(__name__)

EOG, EMG = "EOG horizontal", "EMG submental"
SPLITS = ("train", "validation", "test")
FORMAT_VERSION = 1  # bump when the row layout changes: older per-night shards are then rebuilt


@dataclass
class BuildConfig:
    """Everything that changes the rows; a resumed build must use the same values."""

    channels: list[str] = field(default_factory=lambda: ["EEG Fpz-Cz"])
    context: int = 1
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    image_processor: dict = field(default_factory=dict)
    prompt: str = STAGING_PROMPT
    format_version: int = FORMAT_VERSION

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:16]


def split_subjects(subjects, *, seed: int = 0, fractions=(0.7, 0.15, 0.15)) -> dict[int, str]:
    """Deterministic subject-wise split: subject -> "train" | "validation" | "test".

    Subjects are shuffled with ``seed`` and cut by ``fractions``; with 3 or more subjects validation and test get
    at least one subject each, so no split is empty.
    """
    subjects = sorted(set(int(s) for s in subjects))
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"fractions: received {fractions}, expected three non-negative numbers summing to 1.")
    order = list(np.random.default_rng(seed).permutation(subjects))
    n = len(order)
    n_test = max(1, round(n * fractions[2])) if n >= 2 else 0
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    if n < 3:
        logger.warning("Only %d subject(s): the validation split is empty%s.", n, " and so is test" if n < 2 else "")
    out = {}
    for i, s in enumerate(order):
        out[int(s)] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)  # level 1: 3x faster, ~10 % larger
    return buf.getvalue()


def _read(files: NightFiles, channels: list[str]):
    """Read the rendered channels plus EOG/EMG (for the features) when the PSG has them."""
    with open_edf(files.psg, "psg_path") as f:
        available = list(f.getSignalLabels())
    missing = [c for c in channels if c not in available]
    if missing:
        raise ValueError(
            f"channels: received {missing}, not in {files.psg.name} which has {available}. "
            f"Pick channels from the file (Sleep-EDFx: {list(CHANNELS)})."
        )
    wanted = list(dict.fromkeys(channels + [c for c in (EOG, EMG) if c in available]))
    return read_night(files.psg, files.hypnogram, channels=tuple(wanted))


def render_night(files: NightFiles, config: BuildConfig, processor: EEGVLMImageProcessor, split: str) -> pa.Table:
    """All rows of one night as an Arrow table (images as PNG bytes)."""
    night = _read(files, config.channels)
    n = len(night)
    fs = {c: night.sampling_rates[c] for c in config.channels}
    if len(set(fs.values())) > 1:
        raise ValueError(
            f"channels: received {config.channels} sampled at {fs} Hz, expected one rate to draw them together. "
            "Choose channels with the same rate (Sleep-EDFx EEG and EOG are 100 Hz)."
        )
    rate = fs[config.channels[0]]
    eeg0 = night.signals[config.channels[0]]  # (n, S)
    rows = EEGVLMFeatureExtractor(epoch_seconds=processor.epoch_seconds).measure(
        eeg0, rate,
        eog_epochs=night.signals.get(EOG) if night.sampling_rates.get(EOG, 0) >= 50 else None,
        emg_epochs=night.signals.get(EMG),
    )  # one dict of the CoT's measurements per epoch
    windows = np.stack(
        [np.stack([night.epoch_with_context(c, i, context=config.context) for c in config.channels])
         for i in range(n)]
    )  # (n, C, (1 + 2 * context) * S)
    images = []
    for i in range(0, n, 256):  # bounded memory: 256 rendered RGB images at a time
        images.extend(_png(im) for im in processor.render(windows[i : i + 256], rate))
    cots = [
        make_cot(rows[i], night.stages[i],
                 prev_stage=night.stages[i - 1] if i > 0 else None,
                 next_stage=night.stages[i + 1] if i + 1 < n else None,
                 prev_features=rows[i - 1] if i > 0 else None,
                 next_features=rows[i + 1] if i + 1 < n else None)
        for i in range(n)
    ]
    columns = {
        "image": [{"bytes": b, "path": None} for b in images],
        "stage": [STAGES.index(s) for s in night.stages],
        "cot": cots,
        "subject": [night.subject] * n,
        "night": [night.night] * n,
        "recording": [night.name] * n,
        "epoch_index": list(range(n)),
        "onset_s": [float(x) for x in night.epoch_onsets],
        "split": [split] * n,
        "prompt": [config.prompt] * n,
    }
    for name in FEATURE_NAMES:
        columns[name] = np.asarray([row[name] for row in rows], dtype=np.float32).tolist()
    return pa.table(columns)


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _features():
    from datasets import ClassLabel, Features, Image as HFImage, List, Value

    feats = {
        "image": HFImage(),
        "stage": ClassLabel(names=list(STAGES)),
        "cot": Value("string"),
        "subject": Value("int32"),
        "night": Value("int32"),
        "recording": Value("string"),
        "epoch_index": Value("int32"),
        "onset_s": Value("float64"),
    }
    feats.update({name: Value("float32") for name in FEATURE_NAMES})
    feats["messages"] = List({"role": Value("string"),
                              "content": List({"type": Value("string"), "text": Value("string")})})
    feats["images"] = List(HFImage())
    return Features(feats)


def _messages(prompt: str, cot: str) -> list[dict]:
    return [
        {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": cot}]},
    ]


def _split_rows(shards: list[Path], split: str):
    for shard in shards:
        table = pq.read_table(shard)
        if table.column("split")[0].as_py() != split:
            continue
        for row in table.to_pylist():
            row.pop("split")
            prompt = row.pop("prompt")
            row["messages"] = _messages(prompt, row["cot"])
            row["images"] = [row["image"]]
            yield row


def build_dataset(source, out, *, channels=("EEG Fpz-Cz",), context: int = 1, num_proc: int = 1, seed: int = 0,
                  image_processor: EEGVLMImageProcessor | None = None, progress: bool = True, overwrite=False):
    """Render every scored epoch of the nights in ``source`` into a ``DatasetDict`` saved at ``out``.

    Parameters
    ----------
    source : path
        Folder with Sleep-EDFx ``*-PSG.edf`` / ``*-Hypnogram.edf`` pairs (downloaded or simulated).
    out : path
        Destination of ``DatasetDict.save_to_disk``; must not exist unless ``overwrite=True``.
    channels : sequence of str
        Channels drawn, one band each (same sampling rate). Default: ``EEG Fpz-Cz``.
    context : int
        Neighbouring epochs drawn dimmed on each side. Default 1.
    num_proc : int
        Nights rendered in parallel processes. Default 1.
    seed : int
        Seed of the subject-wise split.
    image_processor : EEGVLMImageProcessor, optional
        The renderer (default: ``EEGVLMImageProcessor(context_epochs=context)``); pass the model's own so that
        training and inference see the same images.

    Returns
    -------
    datasets.DatasetDict
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise ValueError(f"source: received {str(source)!r}, expected a folder of Sleep-EDFx EDF files.")
    nights = pair_files(source)
    if not nights:
        raise ValueError(
            f"source: {str(source)!r} holds no PSG/hypnogram pair, expected files like SC4001E0-PSG.edf + "
            "SC4001EC-Hypnogram.edf. Run `python -m eeg_vlm.dataset_builder simulate` or `download` first."
        )
    processor = image_processor or EEGVLMImageProcessor(context_epochs=context)
    if processor.context_epochs != context:
        raise ValueError(f"context: received {context}, but image_processor draws {processor.context_epochs}.")
    config = BuildConfig(channels=list(channels), context=context, seed=seed, image_processor=processor.to_dict())
    if out.exists():
        if not overwrite:
            raise ValueError(
                f"out: {str(out)!r} already exists. Choose another folder or pass overwrite=True (--overwrite)."
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"out: cannot create the folder {str(out.parent)!r} for {out.name!r} ({error}), expected a path in a "
            "writable directory. Choose another --out (a path whose parents are folders you can write to)."
        ) from error
    with _build_lock(out):
        work = out.with_name(out.name + ".incomplete")
        params = work / "build_config.json"
        if work.exists() and (not params.exists() or json.loads(params.read_text()).get("fingerprint")
                              != config.fingerprint()):
            logger.warning("%s was left by a build with other settings: starting over.", work)
            shutil.rmtree(work)
        (work / "nights").mkdir(parents=True, exist_ok=True)
        params.write_text(json.dumps({"fingerprint": config.fingerprint(), **asdict(config)}, default=str, indent=1))

        splits = split_subjects([n.subject for n in nights], seed=seed, fractions=config.split_fractions)
        todo = [n for n in nights if not (work / "nights" / f"{n.name}.parquet").exists()]
        if len(todo) < len(nights):
            logger.info("Resuming: %d of %d nights already rendered.", len(nights) - len(todo), len(nights))
        jobs = [(n, config, processor, splits[n.subject], work / "nights" / f"{n.name}.parquet") for n in todo]
        bar = tqdm(total=len(nights), initial=len(nights) - len(todo), desc="rendering nights", unit="night",
                   disable=not progress)
        if num_proc > 1 and len(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=num_proc) as pool:
                for _ in pool.map(_render_job, jobs):
                    bar.update()
        else:
            for job in jobs:
                _render_job(job)
                bar.update()
        bar.close()

        shards = sorted((work / "nights").glob("*.parquet"))
        fingerprint = hashlib.sha256((config.fingerprint() + "".join(p.name for p in shards)).encode()).hexdigest()
        features = _features()
        parts = {}
        for split in SPLITS:
            if not any(splits[n.subject] == split for n in nights):
                continue
            parts[split] = Dataset.from_generator(
                _split_rows, gen_kwargs={"shards": shards, "split": split}, features=features,
                fingerprint=f"{fingerprint}-{split}", cache_dir=str(work / "cache"),
            )
        dataset = DatasetDict(parts)
        staging = out.with_name(out.name + ".saving")
        if staging.exists():
            shutil.rmtree(staging)
        dataset.save_to_disk(str(staging))
        (staging / "build_config.json").write_text(params.read_text())
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        shutil.rmtree(work)
        return load_from_disk(str(out))


@contextlib.contextmanager
def _build_lock(out: Path):
    """Hold ``<out>.lock`` (holding our pid) for the whole build, so two builds never write into one folder.

    The lock is created complete and atomically (``os.link`` of a temporary file fails if it exists). A lock
    left by a killed build (its pid no longer runs) is taken over with a warning.
    """
    lock = out.with_name(out.name + ".lock")
    tmp = out.with_name(f".{out.name}.lock.{os.getpid()}")
    try:
        tmp.write_text(str(os.getpid()))
    except OSError as error:
        raise ValueError(
            f"out: cannot write in {str(out.parent)!r} ({error}), expected a writable folder. Choose another --out "
            "or fix its permissions."
        ) from error
    try:
        for _ in range(2):
            try:
                os.link(tmp, lock)
                break
            except FileExistsError:
                text = lock.read_text().strip() if lock.exists() else ""
                pid = int(text) if text.isdigit() else None
                if pid is not None and pid != os.getpid() and _pid_alive(pid):
                    raise ValueError(
                        f"out: another build (pid {pid}) is writing {str(out)!r} (lock {str(lock)!r}), expected one "
                        "build per output folder. Wait for it to finish or choose another --out; if no build is "
                        f"running, delete {str(lock)!r}."
                    ) from None
                logger.warning("%s was left by a build that is no longer running (pid %s); taking it over.",
                               lock, pid)
                lock.unlink(missing_ok=True)
        else:
            raise ValueError(f"out: could not take the build lock {str(lock)!r}; delete it and build again.")
    finally:
        tmp.unlink(missing_ok=True)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _render_job(job) -> None:
    files, config, processor, split, path = job
    _atomic_write_table(render_night(files, config, processor, split), path)


__all__ = ["BuildConfig", "build_dataset", "render_night", "split_subjects"]
