"""Shared by the Space's tests: the app loaded with a tiny model, a served copy, real EDF files, and just enough W3C
WebDriver to drive Debian's headless ``chromium`` through ``chromedriver`` (JSON over HTTP, no Python driver).

Used by ``tests/test_space.py`` (handlers, gradio_client) and ``tests/test_space_browser.py`` (Chromium).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config, tiny_processor

APP_FILE = Path(__file__).resolve().parents[1] / "space" / "app.py"
UPLOAD_LIMIT_MB = 1.0  # small limit for the tests: the sample night (10 MB) is staged server-side


@pytest.fixture(scope="module")
def model_dir(tiny_tokenizer, tmp_path_factory):
    import torch

    from eeg_vlm import EEGVLMForConditionalGeneration

    torch.manual_seed(0)
    config = tiny_config(tiny_tokenizer)
    model = EEGVLMForConditionalGeneration(config).eval()
    model.generation_config.max_new_tokens = 12  # a random model babbles: keep its reasoning short (and fast)
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tiny_processor(tiny_tokenizer, config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def app(model_dir, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EEG_VLM_MODEL", str(model_dir))
        spec = importlib.util.spec_from_file_location("eeg_vlm_space_app", APP_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        mp.setattr(module, "MAX_UPLOAD_MB", UPLOAD_LIMIT_MB)
        mp.setattr(module, "OUTPUT_ROOT", tmp_path_factory.mktemp("space-downloads"))
        yield module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(app):
    """The Space served on localhost with its own launch options (upload limit, CSS, keys)."""
    demo = app.build_demo()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True,
                **app.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def write_edf(path, channels: dict, *, rate: int = 100) -> Path:
    """A real EDF with one signal per entry of ``channels`` (label -> signal in uV)."""
    import pyedflib

    headers = [{"label": label, "dimension": "uV", "sample_frequency": rate, "physical_min": -500.0,
                "physical_max": 500.0, "digital_min": -32768, "digital_max": 32767, "transducer": "",
                "prefilter": ""} for label in channels]
    writer = pyedflib.EdfWriter(str(path), len(channels), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.writeSamples([np.asarray(x, dtype=np.float64) for x in channels.values()])
    finally:
        writer.close()
    return Path(path)


def eeg_like(n_epochs: int, *, seed: int = 0, rate: int = 100) -> np.ndarray:
    """Noise plus a 10 Hz rhythm, ~40 uV: enough to be staged (not flat)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_epochs * 30 * rate) / rate
    return 20 * np.sin(2 * np.pi * 10 * t) + rng.normal(0, 15, t.size)


class WebDriver:
    """Just enough W3C WebDriver (JSON over HTTP to chromedriver) to click, type, read and photograph the page."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:  # chromedriver explains its refusals in the body
            raise AssertionError(f"WebDriver {method} {path}: {err.read().decode(errors='replace')[:500]}") from err

    def session_call(self, method: str, path: str, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def run(self, script: str, *args):
        return self.session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, *, timeout: float = 60.0):
        """Poll a JavaScript expression until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.run(f"return {script};")
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never satisfied {script!r} within {timeout:g} s")

    def element(self, css: str) -> str:
        self.wait_for(f"document.querySelector({css!r}) !== null")
        found = self.session_call("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def click(self, css: str):
        self.session_call("POST", f"/element/{self.element(css)}/click", {})

    def type(self, css: str, text: str):
        """Empty a field, then type into it (``\\ue007`` is Enter)."""
        element = self.element(css)
        self.session_call("POST", f"/element/{element}/clear", {})
        self.session_call("POST", f"/element/{element}/value", {"text": text})

    def keys(self, *keys: str):
        """Press keys on the page (W3C actions), e.g. ``"\\ue014"`` (ArrowRight) or ``"l"``."""
        actions = [a for k in keys for a in ({"type": "keyDown", "value": k}, {"type": "keyUp", "value": k})]
        self.session_call("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def upload(self, css: str, path: Path):
        """Set a file input (Gradio's hidden ``input[type=file]``) to a local file."""
        self.session_call("POST", f"/element/{self.element(css)}/value", {"text": str(path)})

    def screenshot(self, path: Path) -> Path:
        """The whole page (beyond the window) as a PNG, through Chrome's DevTools protocol."""
        shot = self.session_call("POST", "/goog/cdp/execute", {
            "cmd": "Page.captureScreenshot", "params": {"format": "png", "captureBeyondViewport": True}})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def start_browser(profile: Path, width: int, height: int):
    """chromedriver + headless chromium with a ``width`` x ``height`` window; skips when either is missing.
    Returns (driver, chromedriver process)."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("headless browser test needs Debian's `chromium` and `chromium-driver` (chromedriver) on PATH: "
                    f"found chromium={chromium}, chromedriver={chromedriver}; "
                    "`apt-get install chromium chromium-driver`")
    port = free_port()
    process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = WebDriver(port)
    deadline = time.monotonic() + 10
    while True:
        try:
            driver.call("GET", "/status")
            break
        except OSError:
            if time.monotonic() > deadline:
                process.terminate()
                raise
            time.sleep(0.05)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    capabilities = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
    try:
        driver.session = driver.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})["sessionId"]
        # the layout width is exactly `width` (a headless window cannot be narrower than ~500 px otherwise)
        driver.session_call("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}})
    except Exception:
        process.terminate()
        raise
    return driver, process


def stop_browser(driver: WebDriver, process) -> None:
    try:
        if driver.session:
            driver.session_call("DELETE", "")
    finally:
        process.terminate()
        process.wait(timeout=10)
