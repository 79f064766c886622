"""Download Sleep-EDFx nights from PhysioNet, resumably and verified against the published SHA-256.

Command::

    python -m eeg_vlm.dataset_builder.download --subset sleep-cassette --subjects 0-19 --out data/sleep-edfx

(``build_parser``/``main`` are meant to back ``python -m eeg_vlm.dataset_builder download`` too), or from Python::

    from eeg_vlm.dataset_builder.download import download
    paths = download(subset="sleep-cassette", subjects="0-19", out_dir="data/sleep-edfx")

The published SHA-256 lists ship with the package (``checksums/SHA256SUMS-<subset>.txt``, one
``<sha256> <filename>`` per line). They also give the exact file names: the hypnogram suffix letters
differ from night to night (``SC4001EC-Hypnogram.edf``, ``SC4011EH-Hypnogram.edf``). Subject numbers are
the two digits after the ``SC4``/``ST7`` prefix and the night is the digit after them
(``SC4131E0-PSG.edf`` is subject 13, night 1; ``ST7241J0-PSG.edf`` is subject 24, night 1).

Every file is streamed to ``<name>.part`` next to its final name, resumed with an HTTP ``Range`` request
when a ``.part`` is already there (a server that ignores ``Range`` makes the download restart from zero),
checked against the published SHA-256 and only then renamed (``os.replace``) to its final name; a
mismatch deletes the ``.part`` and raises ``ValueError``. Nothing half-written ever carries a final name.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = [
    "BASE_URL",
    "SUBSETS",
    "build_parser",
    "main",
    "download",
    "download_features",
    "load_checksums",
    "night_files",
    "parse_subjects",
]

BASE_URL = "https://physionet.org/files/sleep-edfx/1.0.0/"
# The 20 Sleep-EDF-20 nights as per-epoch features + expert stages (MIT project, data ODC-By 1.0), pinned to the
# commit whose files the SHA-256 list (checksums/SHA256SUMS-sleep-edf20-features.txt) describes.
FEATURES_SUBSET = "sleep-edf20-features"
FEATURES_URL = ("https://raw.githubusercontent.com/matteo-omizzolo/sleep-EDF/"
                "f9078144e1c77fc6ac990d99b05e76ee1c8670a5/data/processed/sleep_edf_subjects/")
# subset -> file-name prefix (Sleep Cassette: SC4ssN, Sleep Telemetry: ST7ssN)
SUBSETS = {"sleep-cassette": "SC4", "sleep-telemetry": "ST7"}
_CHECKSUM_DIR = Path(__file__).resolve().parent / "checksums"
_CHUNK_BYTES = 1 << 20  # 1 MiB per read: small enough for a smooth progress bar, large enough to be fast
_NAME_RE = re.compile(r"^(?P<prefix>S[CT]\d)(?P<subject>\d\d)(?P<night>\d)(?P<tag>..)-(?P<kind>PSG|Hypnogram)\.edf$")


def parse_subjects(spec: str | int | Iterable[int]) -> list[int]:
    """Parse a subject selection such as ``"0-19,25"`` into a sorted list of unique subject numbers.

    Parameters
    ----------
    spec : str, int or iterable of int
        Comma-separated numbers and inclusive ranges (``"0-19,25"``), a single int, or an iterable of ints.

    Returns
    -------
    list of int
        Sorted, unique, non-negative subject numbers.
    """
    if isinstance(spec, bool):
        raise ValueError(f"subjects: got the bool {spec!r}; expected e.g. '0-19,25' or a list of ints.")
    if isinstance(spec, int):
        items: list[int] = [spec]
    elif isinstance(spec, str):
        items = []
        for part in spec.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if m is None:
                raise ValueError(
                    f"subjects: could not read {part!r} in {spec!r}; expected comma-separated numbers and "
                    "inclusive ranges such as '0-19,25'."
                )
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise ValueError(f"subjects: range {part!r} runs backwards; write it as '{hi}-{lo}'.")
            items.extend(range(lo, hi + 1))
    else:
        try:
            items = [int(s) for s in spec]
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"subjects: got {spec!r}; expected a string like '0-19,25', an int or an iterable of ints."
            ) from exc
    if not items:
        raise ValueError(f"subjects: {spec!r} selects no subject; pass e.g. '0-19'.")
    if min(items) < 0:
        raise ValueError(f"subjects: got negative subject {min(items)} in {spec!r}; subject numbers start at 0.")
    return sorted(set(items))


def _ranges_text(numbers: Iterable[int]) -> str:
    """Compress ``[0, 1, 2, 5]`` into ``'0-2, 5'``."""
    nums = sorted(set(numbers))
    out: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out)


def load_checksums(subset: str = "sleep-cassette", *, checksums: str | os.PathLike | Mapping[str, str] | None = None
                   ) -> dict[str, str]:
    """Read a SHA-256 list (``<sha256> <filename>`` per line) into ``{filename: sha256}``.

    Parameters
    ----------
    subset : {"sleep-cassette", "sleep-telemetry"}
        Which shipped list to read when ``checksums`` is None.
    checksums : path or mapping, optional
        A different list file, or a ready ``{filename: sha256}`` mapping (copied, hashes lower-cased).
    """
    if subset not in SUBSETS and subset != FEATURES_SUBSET:
        raise ValueError(f"subset: got {subset!r}; expected one of {sorted(SUBSETS)}.")
    if isinstance(checksums, Mapping):
        table = {str(k): str(v).lower() for k, v in checksums.items()}
    else:
        path = Path(checksums) if checksums is not None else _CHECKSUM_DIR / f"SHA256SUMS-{subset}.txt"
        if not path.is_file():
            raise ValueError(f"checksums: file {str(path)!r} not found; pass an existing SHA256SUMS file or a dict.")
        table = {}
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
                raise ValueError(
                    f"checksums: line {lineno} of {str(path)!r} reads {line!r}; expected '<sha256> <filename>'."
                )
            table[parts[1].lstrip("*")] = parts[0].lower()
    for name, digest in table.items():
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"checksums: entry {name!r} has {digest!r}, which is not a 64-hex-digit SHA-256.")
    return table


def night_files(subset: str, subjects: str | int | Iterable[int], *, nights: Iterable[int] = (1, 2),
                checksums: Mapping[str, str]) -> list[tuple[int, int, str, str]]:
    """List ``(subject, night, psg_name, hypnogram_name)`` for the requested subjects and nights.

    Subjects absent from the list raise ``ValueError`` (with the available range); a requested night that a
    present subject lacks (e.g. SC4131 has no second night) is skipped with a logged warning.
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset: got {subset!r}; expected one of {sorted(SUBSETS)}.")
    wanted_nights = sorted(set(int(n) for n in nights))
    if not wanted_nights or any(n not in (1, 2) for n in wanted_nights):
        raise ValueError(f"nights: got {tuple(nights)!r}; expected a selection of 1 and 2, e.g. (1, 2).")
    prefix = SUBSETS[subset]
    psg: dict[tuple[int, int], str] = {}
    hyp: dict[tuple[int, int], str] = {}
    for name in checksums:
        m = _NAME_RE.match(name)
        if m is None or m.group("prefix") != prefix:
            continue
        key = (int(m.group("subject")), int(m.group("night")))
        (psg if m.group("kind") == "PSG" else hyp)[key] = name
    available = sorted({s for s, _ in psg})
    if not available:
        raise ValueError(f"checksums: no {prefix}*-PSG.edf entry for subset {subset!r}; is it the right list?")
    out = []
    for subject in parse_subjects(subjects):
        if subject not in available:
            raise ValueError(
                f"subjects: subject {subject} is not in the {subset} list; available subjects: "
                f"{_ranges_text(available)}. Choose subjects from that range."
            )
        for night in wanted_nights:
            key = (subject, night)
            if key not in psg or key not in hyp:
                logger.warning("%s subject %d has no night %d in the published list; skipping it.",
                               subset, subject, night)
                continue
            out.append((subject, night, psg[key], hyp[key]))
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``part``, resuming from its current size with an HTTP Range request."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "eeg-vlm-dataset-builder"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range beyond the end: the .part is already complete (or too long); let the hash decide
            exc.close()
            return
        raise
    with response:
        mode = "ab"
        if offset and response.status != 206:
            logger.warning("%s: the server ignored the Range request (status %d); restarting from zero.",
                           url, response.status)
            offset, mode = 0, "wb"
        elif offset:
            m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if m is None or int(m.group(1)) != offset:
                raise ValueError(
                    f"url: {url} answered Content-Range {response.headers.get('Content-Range')!r} to a request "
                    f"for bytes {offset}-; delete {part} and retry."
                )
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with open(part, mode) as fh, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                          desc=part.name[: -len(".part")], disable=not progress,
                                          leave=False) as bar:
            received = 0
            for block in iter(lambda: response.read(_CHUNK_BYTES), b""):
                fh.write(block)
                received += len(block)
                bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    if length is not None and received < int(length):
        # http.client may end a body silently when the connection drops: the .part keeps what arrived
        raise ConnectionError(f"connection closed after {received} of {length} bytes")


def _download_one(url: str, dest: Path, expected: str, *, progress: bool, timeout: float, retries: int) -> bool:
    """Fetch one file to ``dest`` (verified). Returns False when a good copy was already there."""
    if dest.exists():
        if _sha256_file(dest) == expected:
            logger.info("%s already present with the published SHA-256; skipped.", dest.name)
            return False
        logger.warning("%s exists but its SHA-256 differs from the published one; downloading it again.", dest)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, progress=progress, timeout=timeout)
            break
        except (OSError, http.client.HTTPException) as exc:  # URLError, resets, timeouts, truncated bodies
            if isinstance(exc, urllib.error.HTTPError) and exc.code != 416 and 400 <= exc.code < 500:
                raise ValueError(f"url: {url} answered HTTP {exc.code} ({exc.reason}); check base_url.") from exc
            if attempt == retries:
                raise
            logger.warning("%s: %s; resuming (attempt %d of %d).", dest.name, exc, attempt + 2, retries + 1)
    got = _sha256_file(part)
    if got != expected:
        part.unlink()
        raise ValueError(
            f"checksum: {dest.name} from {url} has SHA-256 {got}, expected {expected}; the partial file was "
            "deleted. Retry the download; if it persists, the mirror or the checksum list is wrong."
        )
    os.replace(part, dest)
    return True


def download(*, subset: str = "sleep-cassette", subjects: str | int | Iterable[int] = "0-19",
             out_dir: str | os.PathLike, base_url: str = BASE_URL, nights: Iterable[int] = (1, 2),
             progress: bool = True, checksums: str | os.PathLike | Mapping[str, str] | None = None,
             timeout: float = 60.0, retries: int = 3) -> list[Path]:
    """Download Sleep-EDFx PSG + hypnogram pairs, verified against the published SHA-256.

    Parameters
    ----------
    subset : {"sleep-cassette", "sleep-telemetry"}
        PhysioNet subset (also the sub-folder of ``base_url``).
    subjects : str, int or iterable of int
        Subjects, e.g. ``"0-19"`` or ``[0, 1, 25]`` (see :func:`parse_subjects`).
    out_dir : path
        Destination folder (created if needed); files keep their PhysioNet names.
    base_url : str
        Root of the Sleep-EDFx files; ``{base_url}{subset}/{filename}`` is fetched.
    nights : iterable of int
        Nights 1 and/or 2; a night missing for a subject is skipped with a warning.
    progress : bool
        Show a tqdm bar per file.
    checksums : path or mapping, optional
        Override the shipped SHA-256 list (file path or ``{filename: sha256}``).
    timeout : float
        Socket timeout in seconds.
    retries : int
        Extra attempts after a network error; each resumes the ``.part`` file.

    Returns
    -------
    list of pathlib.Path
        The final paths, PSG then hypnogram for each night, in subject/night order.
    """
    if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
        raise ValueError(f"base_url: got {base_url!r}; expected an http(s) URL such as {BASE_URL!r}.")
    if retries < 0:
        raise ValueError(f"retries: got {retries}; expected 0 or more.")
    if subset == FEATURES_SUBSET:
        return download_features(out_dir=out_dir, base_url=FEATURES_URL if base_url == BASE_URL else base_url,
                                 progress=progress, checksums=checksums, timeout=timeout, retries=retries)
    table = load_checksums(subset, checksums=checksums)
    todo = night_files(subset, subjects, nights=nights, checksums=table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = base_url if base_url.endswith("/") else base_url + "/"
    paths: list[Path] = []
    names = [name for _, _, psg, hyp in todo for name in (psg, hyp)]
    for name in tqdm(names, desc=f"{subset} files", unit="file", disable=not progress):
        dest = out / name
        _download_one(f"{root}{subset}/{name}", dest, table[name], progress=progress, timeout=timeout,
                      retries=retries)
        paths.append(dest)
    return paths


def download_features(*, out_dir: str | os.PathLike, base_url: str = FEATURES_URL, progress: bool = True,
                      checksums: str | os.PathLike | Mapping[str, str] | None = None, timeout: float = 60.0,
                      retries: int = 3) -> list[Path]:
    """Download the 20 Sleep-EDF-20 feature files (``SCxxxxE0.npz``), resumably, SHA-256 checked.

    ``python -m eeg_vlm.dataset_builder download --subset sleep-edf20-features --out data/sleep-edf20-features``.
    They train the simulator's calibration and replay (``eeg_vlm.simulation``); attribute Sleep-EDF (ODC-By 1.0:
    Kemp et al. 2000, Goldberger et al. 2000) in anything built from them. Returns the 20 paths, in name order.
    """
    table = load_checksums(FEATURES_SUBSET, checksums=checksums)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = base_url if base_url.endswith("/") else base_url + "/"
    paths = []
    for name in tqdm(sorted(table), desc=FEATURES_SUBSET, unit="file", disable=not progress):
        _download_one(f"{root}{name}", out / name, table[name], progress=progress, timeout=timeout, retries=retries)
        paths.append(out / name)
    return paths


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Add the ``download`` options to ``parser`` (a new one when None) and return it."""
    if parser is None:
        parser = argparse.ArgumentParser(
            prog="python -m eeg_vlm.dataset_builder.download",
            description="Download Sleep-EDFx PSG + hypnogram pairs from PhysioNet, resumably, verified against "
                        "the published SHA-256.",
            epilog="example: python -m eeg_vlm.dataset_builder.download --subset sleep-cassette --subjects 0-19 "
                   "--out data/sleep-edfx")
    parser.add_argument("--subset", choices=sorted([*SUBSETS, FEATURES_SUBSET]), default="sleep-cassette",
                        help=f"{FEATURES_SUBSET}: the 20 nights as per-epoch features (calibration, replay)")
    parser.add_argument("--subjects", default="0-19", help="e.g. '0-19,25' (default: 0-19)")
    parser.add_argument("--nights", default="1,2", help="'1', '2' or '1,2' (default: 1,2)")
    parser.add_argument("--out", required=True, help="destination folder")
    parser.add_argument("--base-url", default=BASE_URL, help=f"default: {BASE_URL}")
    parser.add_argument("--checksums", default=None, help="SHA256SUMS file overriding the shipped list")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    paths = download(subset=args.subset, subjects=args.subjects, out_dir=args.out, base_url=args.base_url,
                     nights=parse_subjects(args.nights), progress=not args.no_progress, checksums=args.checksums)
    print(f"{len(paths)} files verified in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
