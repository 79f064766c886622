"""How fast `eeg-vlm` answers before any model work: --help and the input/output checks.

Run (from the project root)::

    python benchmarks/cli_startup.py [--repeats 5]

Times ``python -m eeg_vlm.cli`` in fresh interpreters (what a user waits for) for ``--help`` and for each input
error that is reported before torch is imported: a missing file, a non-EDF file, a hypnogram passed as the PSG, an
existing output, a bad --epoch. Goal: < 1 s each. Prints the median of ``--repeats`` runs, whether torch was
imported (it must not be) and the 1-minute load average (other processes on the same cores slow every start).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOAL_SEC = 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per case; the median is reported (default 5)")
    args = ap.parse_args(argv)
    sample = next((ROOT / "eeg_vlm" / "sample").glob("*-PSG.edf"))
    hypnogram = next((ROOT / "eeg_vlm" / "sample").glob("*-Hypnogram.edf"))
    with tempfile.TemporaryDirectory(prefix="eeg_vlm_cli_") as tmp:
        tmp = Path(tmp)
        (tmp / "export.edf").write_text("time,Fpz-Cz\n0.00,12.5\n")
        existing = tmp / "existing"
        existing.mkdir()
        (existing / f"{sample.stem}.hypnogram.csv").write_text("an earlier run")
        cases = {
            "--help": ["--help"],
            "missing file": ["stage", str(tmp / "nowhere.edf"), "--out", str(tmp / "out")],
            "non-EDF file": ["stage", str(tmp / "export.edf"), "--out", str(tmp / "out")],
            "hypnogram as PSG": ["stage", str(hypnogram), "--out", str(tmp / "out")],
            "existing output": ["stage", str(sample), "--out", str(existing)],
            "explain --epoch -1": ["explain", str(sample), "--epoch", "-1"],
        }
        print(f"python -m eeg_vlm.cli, {args.repeats} fresh interpreters per case; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name, cli_args in cases.items():
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-X", "importtime", "-m", "eeg_vlm.cli", *cli_args],
                                      cwd=ROOT, capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
            torch = any(re.search(r"\|\s+torch$", line.rstrip()) for line in done.stderr.splitlines())
            median = float(np.median(times))
            print(f"  {name:20s} {median:5.2f} s (exit {done.returncode}, torch imported: {'yes' if torch else 'no'})"
                  f" [goal < {GOAL_SEC:g} s: {'met' if median < GOAL_SEC else 'NOT met'}]")
            if (tmp / "out").exists():
                print("    a folder was left behind although nothing was written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
