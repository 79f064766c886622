"""transformers' own common-test mixins, taken from the source distribution of the INSTALLED transformers version.

The wheel ships no tests; the sdist ships ``tests/test_*_common.py`` (not the subfolders). :func:`load` downloads the
sdist with pip (``pip download --no-deps --no-binary :all: transformers==X``) into a cache folder, extracts
``tests/*.py`` into an importable package and returns it. Four modules those files import are NOT in the sdist;
they get the smallest stand-ins that keep the shipped tests runnable, and what they would have tested is tested
by our own named tests instead:

- ``exporters/test_export.py`` (``ExportTesterMixin``, the torch.export checks): an empty base class;
  ``test_modeling_transformers_contracts.py::test_torch_export_without_data_dependent_guards`` exports the model.
- ``generation/test_utils.py`` (``GenerationTesterMixin``): an empty base class; greedy, sampling, beam search,
  static cache and assisted decoding are checked by ``test_generation_*`` in the same file.
- ``utils/test_configuration_utils.py`` (``config_common_kwargs``): an empty dict; the only user,
  ``ConfigTester.check_config_arguments_init``, returns before reading it for composite configs like ours.
- ``utils/fetch_hub_objects_for_ci.py`` (``url_to_local_path``, which caches Hub test files): the Hub is not
  reachable in tests, so an image URL becomes a local seeded random image (the processor tests need an image, not
  its content); other URLs (video, audio) are returned unchanged.

Cache folder: ``$EEG_VLM_TRANSFORMERS_TESTS`` or ``~/.cache/eeg-vlm/transformers-tests``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

PACKAGE = "transformers_sdist_tests"

_STAND_INS = {
    "exporters/__init__.py": "",
    "exporters/test_export.py": "class ExportTesterMixin:  # not in the sdist\n    pass\n",
    "generation/__init__.py": "",
    "generation/test_utils.py": "class GenerationTesterMixin:  # not in the sdist\n    pass\n",
    "utils/__init__.py": "",
    "utils/test_configuration_utils.py": "config_common_kwargs = {}  # not in the sdist\n",
}
_FETCH_HUB = '''"""Stand-in for transformers' utils/fetch_hub_objects_for_ci.py (not in the sdist). The Hub is not reachable in
tests, so an image URL becomes a local, seeded random image (the processor tests need an image, not its content);
any other URL is returned unchanged."""
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

_HERE = Path(__file__).resolve().parent


def url_to_local_path(url, *args, **kwargs):
    if not str(url).lower().endswith((".jpg", ".jpeg", ".png")):
        return url
    digest = hashlib.sha256(str(url).encode()).hexdigest()[:16]
    path = _HERE / f"image-{digest}.png"
    if not path.exists():
        rng = np.random.default_rng(int(digest, 16) % 2**32)
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return str(path)
'''


def _cache_root() -> Path:
    return Path(os.environ.get("EEG_VLM_TRANSFORMERS_TESTS", Path.home() / ".cache" / "eeg-vlm" / "transformers-tests"))


def _download_and_extract(version: str, root: Path) -> Path:
    """Return ``root/<version>/<PACKAGE>`` holding the sdist's ``tests/*.py`` (+ stand-ins); atomic."""
    target = root / version / PACKAGE
    if (target / "__init__.py").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
               "--disable-pip-version-check", "-d", tmp, f"transformers=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        archives = list(Path(tmp).glob("transformers-*.tar.gz"))
        if done.returncode or not archives:
            raise RuntimeError(f"pip download transformers=={version} sdist failed: {done.stderr.strip()[-300:]}")
        staging = Path(tmp) / version / PACKAGE
        staging.mkdir(parents=True)
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py") and member.isfile():
                    (staging / parts[2]).write_bytes(tar.extractfile(member).read())
        if not (staging / "test_modeling_common.py").exists():
            raise RuntimeError(f"the transformers=={version} sdist has no tests/test_modeling_common.py")
        for rel, text in _STAND_INS.items():
            path = staging / rel
            path.parent.mkdir(exist_ok=True)
            if not path.exists():
                path.write_text(text)
        (staging.parent / "utils").mkdir()  # the sdist tests add `<root>/utils` to sys.path for this one
        (staging.parent / "utils" / "fetch_hub_objects_for_ci.py").write_text(_FETCH_HUB)
        (staging / "__init__.py").write_text("")
        if target.parent.exists():  # an older, incomplete extraction
            import shutil

            shutil.rmtree(target.parent)
        os.replace(staging.parent, target.parent)  # atomic: a half-extracted folder is never seen
    return target


def load():
    """Import and return ``(test_modeling_common, test_configuration_common, test_image_processing_common,
    test_processing_common)`` of the installed transformers version; ``RuntimeError`` when unobtainable."""
    target = _download_and_extract(transformers.__version__, _cache_root())
    if str(target.parent) not in sys.path:
        sys.path.insert(0, str(target.parent))
    names = ("test_modeling_common", "test_configuration_common", "test_image_processing_common",
             "test_processing_common")
    return tuple(importlib.import_module(f"{PACKAGE}.{name}") for name in names)
