"""Atomic, non-clobbering file writes for every exporter.

Writers produce a temporary file in the destination directory and ``os.replace`` it onto the
target, so a crash or a full disk never leaves a half-written export, and an existing file is
only replaced when the caller asks (``overwrite=True``, CLI ``--overwrite``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it on Python 3.11: set, then restore
    os.umask(mask)
    return mask


def _check_destination(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a directory; expected a file name to write.")
    if path.exists() and not overwrite:
        raise ValueError(
            f"path: {str(path)!r} already exists; refusing to overwrite it. Pass overwrite=True "
            f"(CLI: --overwrite) to replace it, or choose another name."
        )
    parent = path.parent
    if not parent.exists():
        raise ValueError(
            f"path: the output directory {str(parent)!r} does not exist; create it first "
            f"(e.g. mkdir -p {parent}) or choose another --out."
        )
    if not parent.is_dir():
        raise ValueError(
            f"path: {str(parent)!r} is not a directory, so {path.name!r} cannot be written in it; "
            f"choose another output directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"path: the output directory {str(parent)!r} is not writable; choose a directory you "
            f"can write to (CLI: --out DIR) or fix its permissions."
        )


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    Parameters
    ----------
    path : str or pathlib.Path
        Final destination.
    overwrite : bool
        Replace an existing file (default False: ValueError).

    Yields
    ------
    pathlib.Path
        Temporary file (already created, empty) with the same suffix, in the same directory.
        If the block raises, it is removed and ``path`` is left untouched.
    """
    final = Path(path)
    _check_destination(final, overwrite)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
    except OSError as error:
        raise ValueError(
            f"path: cannot create a file in the output directory {str(final.parent)!r} ({error}); "
            f"choose a writable directory (CLI: --out DIR)."
        ) from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if final.exists() and not overwrite:  # appeared while we were writing
            raise ValueError(
                f"path: {str(final)!r} was created while writing; refusing to overwrite it. Pass "
                f"overwrite=True (CLI: --overwrite) to replace it."
            )
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
