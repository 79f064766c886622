"""The Space in a real headless Chromium, at 1400 px (a desktop) and 400 px (a phone), used as a person would.

    python -m pytest tests/test_space_browser.py -q
    EEG_VLM_SCREENSHOTS=out/screenshots python -m pytest tests/test_space_browser.py -q   # keep the screenshots

What is checked, at both widths: a refused action leaves an error in the page, titled with the app's name, in user
words, still visible 15 s later; staging the sample shows the night view (hypnogram over the spectrogram) at the
page's width with no horizontal scrolling; the epoch page, the stage probabilities and the reasoning of the selected
epoch appear; the arrow key and L (next low-confidence epoch) move the selection and load the epoch; a click on the
hypnogram selects the epoch under it; typing an epoch and at once clicking a table row ends with that row's epoch and
its own reasoning, never another epoch's; out-of-range epochs are refused by the app; the download names are whole;
the comparison with the scorer shows agreement, kappa, per-stage F1 and the confusion matrix. Screenshots of each
step are written as PNG artefacts (a pytest temporary folder, or ``EEG_VLM_SCREENSHOTS``). Skipped without
Debian's ``chromium`` and ``chromium-driver``. A tiny random model (``space_helpers``) stands in for the default.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no network at start
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from space_helpers import app, model_dir, server, start_browser, stop_browser  # noqa: E402, F401

gr = pytest.importorskip("gradio")

ERROR_VISIBLE_S = 15.0  # an error must still be readable this long after it appeared


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = os.environ.get("EEG_VLM_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("space-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def sample_night(app):
    """The sample night as the tiny model stages it (the page must show the same)."""
    return app.stage_sample()[4]


def text(driver, css: str) -> str:
    return driver.run(f"const e = document.querySelector({css!r}); return e ? e.innerText : '';")


def image_shown(driver, css: str):
    """(natural width, displayed width, right edge) of a loaded image inside ``css``, or None."""
    return driver.run(f"const i = document.querySelector({css!r} + ' img');"
                      " if (!i || !i.complete || i.naturalWidth === 0) return null;"
                      " const r = i.getBoundingClientRect(); return [i.naturalWidth, r.width, r.right];")


def wait_epoch(driver, epoch: int, *, timeout: float = 60.0):
    """Wait until the caption, the epoch page and the finished reasoning all belong to ``epoch``."""
    try:
        driver.wait_for(f"document.querySelector('#epoch-caption').innerText.startsWith('Epoch {epoch} (')"
                        f" && document.querySelector('#reasoning').innerText.includes('Reasoning for epoch {epoch} (')"
                        " && !document.querySelector('#reasoning').innerText.includes('being written')"
                        " && !document.querySelector('#reasoning .progress-text, #epoch-caption .progress-text')",
                        timeout=timeout)
    except AssertionError as err:
        field = driver.run("return document.querySelector('#epoch input').value")
        raise AssertionError(f"epoch {epoch} never fully shown: caption {text(driver, '#epoch-caption')!r}, "
                             f"reasoning {text(driver, '#reasoning')[:150]!r}, field {field!r}") from err


def visible_errors(driver) -> list:
    """[panel id, title, message] of each error shown in the page and on screen (not hidden, not scrolled away
    sideways, at least 8 px high text)."""
    return driver.run(
        "return [...document.querySelectorAll('.app-error')].filter(e => { const r = e.getBoundingClientRect();"
        " return e.offsetParent !== null && r.height >= 8 && r.left >= 0 && r.right <= window.innerWidth; })"
        ".map(e => [e.closest('#stage-message, #epoch-message, #compare-message').id,"
        " e.querySelector('.app-error-title').innerText,"
        " e.querySelector('.app-error-text').innerText]);")


def wait_error(driver, panel: str):
    driver.wait_for(f"document.querySelector('#{panel} .app-error') !== null")
    return visible_errors(driver)


@pytest.mark.parametrize("width", [1400, 400])
def test_browser_space_is_a_usable_viewer(server, app, sample_night, screenshots, tmp_path, width):
    driver, process = start_browser(tmp_path / "profile", width, 900)
    shot = lambda name: driver.screenshot(screenshots / f"{width}px-{name}.png")  # noqa: E731
    try:
        driver.session_call("POST", "/url", {"url": server})
        assert driver.wait_for("window.innerWidth") == width
        # 1. a refused action: the error stays in the page with the app's title, in user words
        driver.click("#stage-upload")
        errors = wait_error(driver, "stage-message")
        shown_at = time.monotonic()
        assert errors == [["stage-message", "EEG-VLM: cannot stage this night", errors[0][2]]]
        assert errors[0][2].startswith("Nothing was uploaded. Upload an EDF/EDF+ recording")
        # 2. stage the sample: the night view fills the page's width, nothing scrolls sideways
        driver.click("#stage-sample")
        natural, shown, right = driver.wait_for(
            "(() => { const i = document.querySelector('#night-view img');"
            " return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.getBoundingClientRect().width,"
            " i.getBoundingClientRect().right] : null })()", timeout=120)
        n = sample_night["n_epochs"]
        assert f"{n} epochs" in driver.wait_for("document.querySelector('#status').innerText")
        assert natural == app._width(width) and shown >= 0.85 * width - 80 and right <= width
        assert driver.run("return document.documentElement.scrollWidth") <= width
        wait_epoch(driver, 0)  # staging opens epoch 0: its page, probabilities and reasoning
        page = image_shown(driver, "#epoch-view")
        assert page and page[0] == app._width(width) and page[2] <= width
        assert "W" in text(driver, "#epoch-probs") and "REM" in text(driver, "#epoch-probs")
        assert "Claims checked" in text(driver, "#reasoning") or "Reasoning for epoch 0" in text(driver, "#reasoning")
        names = driver.run(  # each download's whole name is on screen, not cut (the issue saw ".c" / ".e")
            "return [...document.querySelectorAll('#downloads td.filename')].map(td => [getComputedStyle(td,"
            " '::before').content, td.scrollWidth <= td.clientWidth + 1, td.getBoundingClientRect().right"
            " <= window.innerWidth])")
        assert names == [['"SC4991E0-PSG.hypnogram.csv"', True, True], ['"SC4991E0-PSG.hypnogram.edf"', True, True]]
        shot("1-staged")
        # 3. an error stays until the next action: a refused epoch, still there 15 s later
        driver.type("#epoch input", "9999\ue007")  # Enter
        ((panel, title, message),) = wait_error(driver, "epoch-message")
        shown_at = time.monotonic()
        assert title == "EEG-VLM: cannot show this epoch" and f"from 0 to {n - 1}" in message
        assert message.startswith("Received 9999") and "epoch:" not in message
        driver.run("document.querySelector('#epoch-message').scrollIntoView({block: 'center'});")
        time.sleep(max(0.0, ERROR_VISIBLE_S - (time.monotonic() - shown_at)))
        assert visible_errors(driver) == [[panel, title, message]]
        shot("2-error-after-15s")
        # 4. keyboard: -> next epoch, L next low-confidence epoch
        driver.run("document.activeElement && document.activeElement.blur();")
        driver.keys("\ue014")  # ArrowRight
        wait_epoch(driver, 1)
        low = [i for i, c in enumerate(sample_night["confidence"]) if c < app.LOW_CONFIDENCE and i > 1]
        if low:
            driver.keys("l")
            wait_epoch(driver, low[0])
            assert "low confidence" in text(driver, "#epoch-caption")
        # 5. a click on the hypnogram selects the epoch under the pointer
        view = sample_night["view"] if sample_night["width"] == app._width(width) else None
        target = 100
        driver.run("document.querySelector('#night-view img').scrollIntoView({block: 'center'});")
        rect = driver.run("const r = document.querySelector('#night-view img').getBoundingClientRect();"
                          " return [r.left, r.top, r.width, r.height];")
        view = view or app.stage_sample(width)[4]["view"]
        x_natural = view["x0"] + (view["x1"] - view["x0"]) * (target + 0.5) / n
        y_natural = (view["top"] + view["bottom"]) / 2
        scale = rect[2] / natural
        x, y = int(rect[0] + x_natural * scale), int(rect[1] + y_natural * scale)
        driver.session_call("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "parameters": {
            "pointerType": "mouse"}, "actions": [{"type": "pointerMove", "x": x, "y": y, "origin": "viewport"},
                                                 {"type": "pointerDown", "button": 0},
                                                 {"type": "pointerUp", "button": 0}]}]})
        wait_epoch(driver, target)
        shot("3-epoch-from-hypnogram")
        # 6. the race of the issue: type an epoch, then at once click a table row: row 12 wins, with its reasoning
        driver.type("#epoch input", "300\ue007")
        driver.click('#stages [data-testid="cell-12-2"]')
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # never epoch 12 next to another epoch's reasoning
            caption, reasoning = text(driver, "#epoch-caption"), text(driver, "#reasoning")
            if caption.startswith("Epoch 12 ("):
                assert "Reasoning for epoch 12 (" in reasoning, reasoning[:200]
                if "being written" not in reasoning:
                    break
            time.sleep(0.05)
        wait_epoch(driver, 12)
        time.sleep(1.0)  # a late answer for epoch 300 would land now
        assert "Reasoning for epoch 12 (" in text(driver, "#reasoning")
        assert visible_errors(driver) == []  # the new actions cleared the old message
        # 7. the scorer's hypnogram: agreement, kappa, per-stage F1, confusion matrix, both hypnograms drawn
        driver.click("#compare-sample")
        agreement = driver.wait_for("document.querySelector('#agreement').innerText.includes('kappa')"
                                    " && document.querySelector('#agreement').innerText")
        assert "SC4991EX-Hypnogram.edf" in agreement and "Agreement" in agreement
        assert "F1" in text(driver, "#per-stage") and "scorer N2" in text(driver, "#confusion")
        assert driver.run("return document.documentElement.scrollWidth") <= width
        driver.run("document.querySelector('#agreement').scrollIntoView();")
        shot("4-compared")
    finally:
        stop_browser(driver, process)
    for name in ("1-staged", "2-error-after-15s", "3-epoch-from-hypnogram", "4-compared"):
        assert (screenshots / f"{width}px-{name}.png").stat().st_size > 10_000


def test_browser_refuses_a_bad_upload_in_user_words(server, tmp_path, screenshots):
    driver, process = start_browser(tmp_path / "profile", 1400, 900)
    try:
        driver.session_call("POST", "/url", {"url": server})
        fake = tmp_path / "notes.edf"
        fake.write_text("epoch,stage\n0,W\n")
        driver.upload("input[type=file]", fake)
        driver.wait_for("document.querySelector('td.filename[aria-label=\"notes.edf\"]') !== null")
        driver.click("#stage-upload")
        ((_, title, message),) = wait_error(driver, "stage-message")
        assert title == "EEG-VLM: cannot stage this night"
        assert message.startswith("'notes.edf' is not an EDF file") and "/tmp" not in message
        driver.screenshot(screenshots / "1400px-bad-upload.png")
    finally:
        stop_browser(driver, process)


def test_epoch_view_pixels_are_the_epoch_page(app, sample_night):
    """The page shows what :func:`app.show_epoch` draws (the browser checks above rely on it)."""
    page, model_input, probs, caption, night_view, pending, shown = app.show_epoch(5, sample_night)
    assert page.ndim == 3 and page.shape[1] == sample_night["width"] and page.dtype == np.uint8
    assert night_view.shape == sample_night["view"]["image"].shape
    assert (night_view != sample_night["view"]["image"]).any()  # the cursor is drawn
    assert "Reasoning for epoch 5 (" in pending and "being written" in pending and shown == 5
