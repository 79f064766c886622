"""Time the Space as a user meets it: stage the sample night, show one epoch, explain it (through gradio_client).

    python benchmarks/space.py [--repeats 3] [--epoch 120]

Serves ``space/app.py`` on localhost with the embedded default model (``EEG_VLM_MODEL`` to change it), loads the
model once before timing (as the Space does at start), then calls ``/stage_sample``, ``/show_epoch`` and ``/explain``
from a ``gradio_client.Client`` and prints the median wall time of each (the HTTP round trip and the PNG transfer
included) over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

APP_FILE = Path(__file__).resolve().parents[1] / "space" / "app.py"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch", type=int, default=120)
    args = parser.parse_args(argv)
    from gradio_client import Client

    spec = importlib.util.spec_from_file_location("eeg_vlm_space_app", APP_FILE)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app.load_staging_model(app.model_spec())  # the Space loads the model at start
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True,
                **app.launch_options())
    times = {"stage the sample night (480 epochs)": [], f"show epoch {args.epoch}": [],
             f"explain epoch {args.epoch}": []}
    try:
        for _ in range(args.repeats):
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            calls = [((), "/stage_sample"), ((args.epoch,), "/show_epoch"), ((args.epoch,), "/explain")]
            for key, (inputs, api) in zip(times, calls):
                start = time.perf_counter()
                client.predict(*inputs, api_name=api)
                times[key].append(time.perf_counter() - start)
    finally:
        demo.close()
    for key, values in times.items():
        print(f"{key:40s}: {statistics.median(values):6.2f} s (median of {len(values)}: "
              f"{', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
