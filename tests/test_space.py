"""The Gradio Space (space/app.py): its handlers, the served app through gradio_client, and a headless browser.

    cd /work/main && python -m pytest tests/test_space.py -q

A tiny random EEG-VLM (tests/conftest.py) stands in for the default model through ``EEG_VLM_MODEL``; the night is
the bundled sample (``eeg_vlm.sample_night_path()``). The browser test drives Debian's ``chromium`` through
``chromedriver`` (W3C WebDriver over plain HTTP, no Python driver package) and is skipped when either is missing.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no network at start
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import tiny_config, tiny_processor  # noqa: E402

gr = pytest.importorskip("gradio")

import eeg_vlm  # noqa: E402
from eeg_vlm.io import load_recording  # noqa: E402

APP_FILE = Path(__file__).resolve().parents[1] / "space" / "app.py"
STAGES = ("W", "N1", "N2", "N3", "REM")
UPLOAD_LIMIT_MB = 1.0  # small limit for the module's tests: the sample night (10 MB) is staged server-side


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


@pytest.fixture(scope="module")
def staged(app):
    """The outputs of 'Stage the sample night' (staged once for the module)."""
    return app.stage_sample()


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


# ----------------------------------------------------------------------------------------------- staging handlers
def test_sample_night_gives_plot_table_summary_and_downloads(staged, model_dir):
    import pandas as pd
    import pyedflib
    from matplotlib.figure import Figure

    fig, table, summary, files, night, slider, status = staged
    n = night["n_epochs"]
    reference = eeg_vlm.stage_night(eeg_vlm.sample_night_path(), model=str(model_dir), progress=False)
    assert isinstance(fig, Figure) and fig.axes
    assert n == len(table) == len(reference) == load_recording(eeg_vlm.sample_night_path()).n_epochs > 100
    assert list(table["stage"]) == night["stages"] == reference.stages
    np.testing.assert_allclose(table[[f"p_{s}" for s in STAGES]].to_numpy(float), reference.probabilities, atol=5e-4)
    stats = {row[0]: row[1] for row in summary}
    assert stats["Time in bed"] == pytest.approx(n / 2)  # minutes of 30-s epochs
    assert stats["Total sleep time"] == pytest.approx(sum(s != "W" for s in night["stages"]) / 2)  # no UNS here
    csv_path, edf_path = map(Path, files)
    assert csv_path.name == "SC4991E0-PSG.hypnogram.csv" and edf_path.name == "SC4991E0-PSG.hypnogram.edf"
    assert list(pd.read_csv(csv_path, comment="#")["stage"]) == night["stages"]
    with pyedflib.EdfReader(str(edf_path)) as reader:
        onsets, durations, labels = reader.readAnnotations()
    assert durations.sum() == pytest.approx(30 * n) and all(label.startswith("Sleep stage") for label in labels)
    assert slider.maximum == n - 1 and slider.interactive is True and slider.value == 0
    assert "EEG Fpz-Cz" in status and f"{n} epochs" in status


def test_uploaded_edf_is_staged_and_named_after_the_upload(app, tmp_path):
    path = write_edf(tmp_path / "my night.edf", {"EOG horizontal": eeg_like(6, seed=1), "EEG C4-M1": eeg_like(6)})
    _, table, _, files, night, _, status = app.stage_upload(str(path))
    assert night["n_epochs"] == len(table) == 6 and night["channel"] == "EEG C4-M1"
    assert [Path(f).name for f in files] == ["my night.hypnogram.csv", "my night.hypnogram.edf"]
    assert "my night.edf" in status


def test_downloads_older_than_an_hour_are_removed_and_recent_ones_kept(app, tmp_path):
    old, recent = app.OUTPUT_ROOT / "old-request", app.OUTPUT_ROOT / "recent-request"
    for directory, age in ((old, app.KEEP_SECONDS + 60), (recent, 60)):
        directory.mkdir()
        (directory / "night.hypnogram.csv").write_text("epoch,stage\n")
        os.utime(directory, (time.time() - age, time.time() - age))
    _, _, _, files, _, _, _ = app.stage_upload(str(write_edf(tmp_path / "n.edf", {"EEG Fpz-Cz": eeg_like(2)})))
    assert not old.exists() and recent.exists() and Path(files[0]).parent.parent == app.OUTPUT_ROOT


def test_epoch_of_a_deleted_upload_asks_to_upload_again(app, tmp_path):
    path = write_edf(tmp_path / "gone.edf", {"EEG Fpz-Cz": eeg_like(3)})
    night = app.stage_upload(str(path))[4]
    path.unlink()  # Gradio's cache removes uploads after KEEP_SECONDS
    with pytest.raises(gr.Error, match="'gone.edf' of this session is no longer on the server"):
        app.show_epoch(1, night)


def test_unscorable_epochs_show_as_empty_cells_and_are_not_explained(app, tmp_path):
    signal = eeg_like(4)
    signal[30 * 100 : 60 * 100] = 0.0  # epoch 1 flat: a disconnected electrode
    path = write_edf(tmp_path / "flat.edf", {"EEG Fpz-Cz": signal})
    _, table, _, _, night, _, _ = app.stage_upload(str(path))
    assert night["stages"][1] == "UNS" and table["p_W"][1] is None and table["p_W"][0] is not None
    image, probs, caption = app.show_epoch(1, night)
    assert probs is None and "unscorable" in caption and image.dtype == np.uint8
    assert "unscorable" in app.explain(1, night)


# ----------------------------------------------------------------------------------------------- epoch handlers
@pytest.mark.parametrize("epoch", [0, 7, -1])  # first, middle and last: the context is cut at the edges
def test_epoch_image_is_what_the_model_sees(app, staged, model_dir, epoch):
    night = staged[4]
    epoch = epoch % night["n_epochs"]
    image, probs, caption = app.show_epoch(epoch, night)
    _, processor = eeg_vlm.staging.load_staging_model(str(model_dir))
    renderer = processor.image_processor
    rec = load_recording(eeg_vlm.sample_night_path())
    windows = eeg_vlm.epochs_with_context(rec.data, rec.sampling_rate, renderer.context_epochs)
    expected = renderer.render(windows[epoch], rec.sampling_rate)[0]
    scale = image.shape[0] // expected.shape[0]
    assert image.shape[0] >= app.DISPLAY_MIN_PX and image.shape[:2] == (scale * renderer.side,) * 2
    np.testing.assert_array_equal(image[::scale, ::scale], expected)
    assert list(probs) == list(STAGES)
    np.testing.assert_allclose(list(probs.values()), night["probabilities"][epoch], rtol=1e-6)
    assert f"Epoch {epoch}" in caption and f"**{night['stages'][epoch]}**" in caption


def test_reasoning_is_the_models_reasoning_for_that_epoch(app, staged, model_dir):
    night = staged[4]
    text = app.explain(3, night)
    assert isinstance(text, str) and text
    # the same as explaining epoch 3 within the whole night (the Space passes only the epoch and its neighbours)
    assert text == eeg_vlm.explain_epoch(eeg_vlm.sample_night_path(), 3, model=str(model_dir), progress=False)


def test_table_click_selects_its_epoch(app, staged):
    night = staged[4]
    event = gr.SelectData(None, {"index": [12, 2], "value": night["stages"][12]})
    assert app.select_row(night, event) == 12


def test_epoch_before_any_night_is_refused(app):
    with pytest.raises(gr.Error, match="no night is staged yet"):
        app.show_epoch(0, None)
    with pytest.raises(gr.Error, match="no night is staged yet"):
        app.explain(0, None)


def test_epoch_out_of_range_is_refused(app, staged):
    n = staged[4]["n_epochs"]
    for bad in (n, -1, 2.5, "five", None):
        with pytest.raises(gr.Error, match=f"expected a whole number from 0 to {n - 1}"):
            app.show_epoch(bad, staged[4])


# ----------------------------------------------------------------------------------------------- bad uploads
def test_no_upload_is_refused(app):
    with pytest.raises(gr.Error, match="nothing was uploaded"):
        app.stage_upload(None)


def test_non_edf_upload_is_refused(app, tmp_path):
    path = tmp_path / "hypnogram.txt"
    path.write_text("epoch,stage\n0,W\n")
    with pytest.raises(gr.Error, match="'hypnogram.txt' is not an EDF file"):
        app.stage_upload(str(path))


def test_edf_without_eeg_channel_is_refused(app, tmp_path):
    path = write_edf(tmp_path / "eog_emg.edf", {"EOG horizontal": eeg_like(2), "EMG submental": eeg_like(2, seed=2)})
    with pytest.raises(gr.Error, match="no EEG channel found among"):
        app.stage_upload(str(path))


def test_oversize_upload_is_refused(app, tmp_path):
    path = write_edf(tmp_path / "big.edf", {"EEG Fpz-Cz": eeg_like(8)})  # 8 x 30 s x 100 Hz x 2 B = 48 kB
    limit = path.stat().st_size - 1
    with pytest.raises(ValueError, match="over this Space's"):
        app.check_upload(path, max_bytes=limit)
    big = write_edf(tmp_path / "bigger.edf", {"EEG Fpz-Cz": eeg_like(200)})  # ~1.8 MB with EDF+ annotations
    with pytest.raises(gr.Error, match=r"'bigger.edf' is 1\.\d MB, over this Space's 1 MB upload limit"):
        app.stage_upload(str(big))
    assert app.launch_options()["max_file_size"] == app.max_upload_bytes() == int(UPLOAD_LIMIT_MB * 2**20)


# ----------------------------------------------------------------------------------------------- the served app
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(app):
    """The Space served on localhost with its own launch options (upload limit included)."""
    demo = app.build_demo()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True,
                **app.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_served_app_stages_the_sample_and_explains_an_epoch(server, staged):
    from gradio_client import Client

    client = Client(server, verbose=False)
    plot, table, summary, files, slider, status = client.predict(api_name="/stage_sample")
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    night = staged[4]
    assert [row[2] for row in table["data"]] == night["stages"]  # the served app stages as the handler does
    assert table["headers"][:4] == ["epoch", "onset_s", "stage", "confidence"]
    assert summary["data"][0][:2] == ["Time in bed", night["n_epochs"] / 2]
    assert [Path(f).name for f in files] == ["SC4991E0-PSG.hypnogram.csv", "SC4991E0-PSG.hypnogram.edf"]
    assert all(Path(f).stat().st_size > 0 for f in files) and slider["maximum"] == night["n_epochs"] - 1
    # the session's gr.State carries the night from one call to the next
    image, probs, caption = client.predict(7, api_name="/show_epoch")
    assert Path(image).suffix == ".png" and probs["label"] == night["stages"][7]
    assert {c["label"] for c in probs["confidences"]} == set(STAGES) and "Epoch 7" in caption
    assert client.predict(7, api_name="/explain") == eeg_vlm.explain_epoch(
        eeg_vlm.sample_night_path(), 7, model=os.environ["EEG_VLM_MODEL"], progress=False)


def test_served_app_refuses_bad_uploads_with_clear_messages(server, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    text = tmp_path / "notes.txt"
    text.write_text("not a recording")
    with pytest.raises(AppError, match=r"Invalid file type.*\.edf"):
        client.predict(handle_file(text), api_name="/stage_upload")
    fake = tmp_path / "fake.edf"
    fake.write_text("epoch,stage\n0,W\n")
    with pytest.raises(AppError, match="'fake.edf' is not an EDF file"):
        client.predict(handle_file(fake), api_name="/stage_upload")
    eog = write_edf(tmp_path / "eog.edf", {"EOG horizontal": eeg_like(2), "EMG submental": eeg_like(2, seed=2)})
    with pytest.raises(AppError, match="no EEG channel found among"):
        client.predict(handle_file(eog), api_name="/stage_upload")


def test_served_app_enforces_the_upload_limit(server, tmp_path):
    import httpx
    from gradio_client import Client, handle_file

    big = write_edf(tmp_path / "big.edf", {"EEG Fpz-Cz": eeg_like(200)})  # ~1.8 MB > the module's 1 MB limit
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client checks first
        Client(server, verbose=False).predict(handle_file(big), api_name="/stage_upload")
    with open(big, "rb") as handle:  # and the server refuses it from any other client
        response = httpx.post(server + "gradio_api/upload", files={"files": ("big.edf", handle)}, timeout=30)
    assert response.status_code == 413


# ----------------------------------------------------------------------------------------------- headless browser
class WebDriver:
    """Just enough W3C WebDriver (JSON over HTTP to chromedriver) to click and read the page."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["value"]

    def session_call(self, method: str, path: str, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def wait_for(self, script: str, *, timeout: float = 30.0):
        """Poll a JavaScript expression until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.session_call("POST", "/execute/sync", {"script": f"return {script};", "args": []})
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never satisfied {script!r} within {timeout:g} s")

    def click(self, css: str):
        found = self.wait_for(f"document.querySelector({css!r}) !== null") and self.session_call(
            "POST", "/element", {"using": "css selector", "value": css})
        self.session_call("POST", f"/element/{next(iter(found.values()))}/click", {})


@pytest.fixture()
def browser(tmp_path):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("headless browser test needs Debian's `chromium` and `chromium-driver` (chromedriver) on PATH: "
                    f"found chromium={chromium}, chromedriver={chromedriver}; "
                    "`apt-get install chromium chromium-driver`")
    port = free_port()
    process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = WebDriver(port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                driver.call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,2000"]
        capabilities = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
        driver.session = driver.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})["sessionId"]
        yield driver
    finally:
        if driver.session:
            driver.session_call("DELETE", "")
        process.terminate()
        process.wait(timeout=10)


def app_reasoning(epoch: int) -> str:
    return eeg_vlm.explain_epoch(eeg_vlm.sample_night_path(), epoch, model=os.environ["EEG_VLM_MODEL"],
                                 progress=False)


def test_browser_shows_the_hypnogram_after_staging_the_sample(server, browser):
    browser.session_call("POST", "/url", {"url": server})
    browser.click("#stage-sample")
    src, width = browser.wait_for(
        "(() => { const img = document.querySelector('#hypnogram img');"
        " return img && img.complete && img.naturalWidth > 0 ? [img.src.slice(0, 22), img.naturalWidth] : null })()")
    assert src == "data:image/png;base64," and width >= 500
    assert "480 epochs" in browser.wait_for("document.querySelector('#status').innerText")
    # a click in the table opens that epoch: its image, probabilities and reasoning appear
    browser.click('#stages [data-testid="cell-5-2"]')  # row of epoch 5, stage column
    browser.wait_for("(() => { const img = document.querySelector('#epoch-image img');"
                     " return img && img.complete && img.naturalWidth >= 448 })()")
    assert "Epoch 5" in browser.wait_for("document.querySelector('#epoch-caption').innerText")
    assert browser.wait_for("document.querySelector('#epoch-probs').innerText.includes('REM')")
    assert browser.wait_for("document.querySelector('#reasoning textarea').value") == app_reasoning(5)


# ----------------------------------------------------------------------------------------------- Space metadata
def test_space_card_and_requirements_match_the_installed_stack():
    import yaml

    card = yaml.safe_load((APP_FILE.parent / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert card["sdk"] == "gradio" and card["sdk_version"] == gr.__version__ and card["license"] == "apache-2.0"
    assert (APP_FILE.parent / card["app_file"]) == APP_FILE and len(card["short_description"]) <= 60
    requirements = (APP_FILE.parent / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("eeg-vlm[space] @ git+https://") for line in requirements)
    assert "gradio>=6.31" in requirements


def test_missing_model_points_to_the_space_variable(app, monkeypatch, tmp_path):
    monkeypatch.setenv("EEG_VLM_MODEL", str(tmp_path / "no-model-here"))
    with pytest.raises(gr.Error, match="set the variable EEG_VLM_MODEL"):
        app.stage_sample()


def test_two_sessions_at_once_do_not_share_state(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    other = write_edf(tmp_path / "other.edf", {"EEG C4-M1": eeg_like(6, seed=5)})
    a, b = Client(server, verbose=False), Client(server, verbose=False)
    with ThreadPoolExecutor(2) as pool:  # both sessions stage at the same time
        first = pool.submit(a.predict, api_name="/stage_sample")
        second = pool.submit(b.predict, handle_file(other), api_name="/stage_upload")
        night_a, night_b = first.result(), second.result()
    assert night_a[4]["maximum"] != night_b[4]["maximum"]  # different nights, different epoch counts
    _, probs_a, _ = a.predict(3, api_name="/show_epoch")
    _, probs_b, _ = b.predict(3, api_name="/show_epoch")
    assert probs_a["label"] == night_a[1]["data"][3][2] and probs_b["label"] == night_b[1]["data"][3][2]
    from gradio_client.exceptions import AppError

    a.predict(10, api_name="/show_epoch")  # the sample night has epoch 10 ...
    with pytest.raises(AppError):  # ... the other session's 6-epoch night does not
        b.predict(10, api_name="/show_epoch")


def test_claims_are_shown_checked_or_flagged(app):
    claims = [{"type": "slow_wave_fraction", "value": 0.42, "text": "slow waves cover 42 % of the epoch",
               "measured": 0.41, "ok": True},
              {"type": "spindle_count", "value": 7.0, "text": "detected 7 sleep spindles", "measured": 1.0,
               "ok": False},
              {"type": "scorer_stage", "value": "N2", "text": "the scorer marked N2", "measured": None, "ok": None}]
    text = app.format_claims(claims)
    assert "1/2 hold" in text
    assert "✓ slow waves cover 42 % of the epoch" in text
    assert "✗ FLAGGED detected 7 sleep spindles (measured: 1.00)" in text
    assert "scorer marked" not in text and app.format_claims([]) == ""
