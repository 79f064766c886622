"""How many torch threads to use now: as many as there are idle cores, at least one.

    from eeg_vlm.threads import torch_threads
    with torch_threads():            # chosen from the cores other processes keep busy right now
        model.generate(...)

torch starts one intra-op thread per core. When other processes keep those cores busy, its threads wait for each
other at every small operation: generating one explanation took 54-289 s with two busy processes on two cores,
against 13.7 s with one thread. Measured here (``python benchmarks/stage_night.py --busy 2``), one thread is
never much slower than two on a busy machine, and two are faster only on idle cores. So the count is the number of
cores that were idle over a 0.1-s look at ``/proc/stat`` (Linux; elsewhere the 1-minute load average), with this
process's own CPU time not counted as busy.

An explicit choice always wins: ``stage_night(num_threads=N)``, ``eeg-vlm --threads N``, or the environment
variables ``EEG_VLM_NUM_THREADS`` / ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

__all__ = ["available_cores", "choose_threads", "idle_cores", "torch_threads"]

_LOOK_SEC = 0.1  # how long /proc/stat is watched: long enough for 10-ms jiffies, short next to a 1-s explanation


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat, or None where it cannot be read."""
    try:
        with open("/proc/stat") as handle:
            lines = [line.split() for line in handle if line.startswith("cpu") and line[3].isdigit()]
    except OSError:
        return None
    busy = total = 0
    for fields in lines:
        if int(fields[0][3:]) in cpus:
            values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(values)
            busy += sum(values) - values[3] - values[4]
    return (busy, total) if total else None


def idle_cores(look_sec: float = _LOOK_SEC) -> float:
    """Cores (of this process's) that other processes left idle over the last ``look_sec`` seconds."""
    cores = available_cores()
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        cpus = set(range(cores))
    before, own_before, t0 = _cpu_times(cpus), time.process_time(), time.perf_counter()
    if before is None:  # not Linux: the 1-minute load average, which lags but says the same thing
        try:
            return max(0.0, cores - os.getloadavg()[0])
        except (AttributeError, OSError):
            return float(cores)
    time.sleep(look_sec)
    after, own = _cpu_times(cpus), time.process_time() - own_before
    elapsed = time.perf_counter() - t0
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return float(cores)
    busy_cores = cores * busy / total - own / elapsed  # this process's own work is not someone else's load
    # the two clocks (/proc/stat ticks, process_time) differ a little: never more idle cores than there are
    return min(float(cores), max(0.0, cores - busy_cores))


def choose_threads(num_threads: int | None = None) -> int:
    """The torch thread count to use now.

    Parameters
    ----------
    num_threads : int, optional
        An explicit count (>= 1), returned as is. None: ``EEG_VLM_NUM_THREADS`` or ``OMP_NUM_THREADS`` when set,
        else the cores idle right now (:func:`idle_cores`, rounded), at least 1.
    """
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads: received {num_threads!r}, expected a positive integer or None (chosen "
                             "from the idle cores).")
        return num_threads
    for name in ("EEG_VLM_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return max(1, min(available_cores(), int(idle_cores() + 0.5)))


@contextlib.contextmanager
def torch_threads(num_threads: int | None = None) -> Iterator[int]:
    """Run the block with :func:`choose_threads` torch intra-op threads; the previous count is restored after."""
    import torch

    previous = torch.get_num_threads()
    chosen = choose_threads(num_threads)
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)
