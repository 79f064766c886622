"""The Gradio Space (space/app.py): its handlers and the served app through gradio_client, end to end.

    python -m pytest tests/test_space.py -q          # the browser: tests/test_space_browser.py

A tiny random EEG-VLM (tests/conftest.py, via space_helpers) stands in for the default model through
``EEG_VLM_MODEL``; the night is the bundled sample (``eeg_vlm.sample_night_path()``).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no network at start
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import html  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from space_helpers import APP_FILE, UPLOAD_LIMIT_MB, app, eeg_like, model_dir, server, write_edf  # noqa: E402, F401

gr = pytest.importorskip("gradio")

import eeg_vlm  # noqa: E402
from eeg_vlm.io import load_recording  # noqa: E402

STAGES = ("W", "N1", "N2", "N3", "REM")


@pytest.fixture(scope="module")
def staged(app):
    """The outputs of 'Stage the sample night' (staged once for the module)."""
    return app.stage_sample()


def reasoning_text(panel: str) -> str:
    """The reasoning text of the panel's HTML (flag marks removed, entities decoded)."""
    body = re.search(r"<div class='reasoning-text'>(.*)</div>$", panel, flags=re.S).group(1)
    return html.unescape(re.sub(r"</?mark[^>]*>", "", body))


# ----------------------------------------------------------------------------------------------- staging handlers
def app_low(night):
    return [i for i, c in enumerate(night["confidence"]) if c < 0.6 and night["stages"][i] != "UNS"]


def test_sample_night_gives_plot_table_summary_and_downloads(app, staged, model_dir):
    import pandas as pd
    import pyedflib

    view, table, summary, files, night, first, status = staged
    n = night["n_epochs"]
    reference = eeg_vlm.stage_night(eeg_vlm.sample_night_path(), model=str(model_dir), progress=False)
    assert view.ndim == 3 and view.shape[1] == night["width"] == 1360 and view.dtype == np.uint8
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
    assert first == 0 and "EEG Fpz-Cz" in status and f"{n} epochs" in status
    assert night["spectrogram"].power_db.shape[0] == n and night["start"] == reference.start_datetime
    assert f"{len(app_low(night))} epochs have a confidence below 60%" in status


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
    page, image, probs, caption, _, _, _ = app.show_epoch(1, night)
    assert probs is None and "unscorable" in caption and image.dtype == np.uint8 == page.dtype
    assert "unscorable" in app.explain(1, night)


# ----------------------------------------------------------------------------------------------- epoch handlers
@pytest.mark.parametrize("epoch", [0, 7, -1])  # first, middle and last: the context is cut at the edges
def test_epoch_image_is_what_the_model_sees(app, staged, model_dir, epoch):
    night = staged[4]
    epoch = epoch % night["n_epochs"]
    page, image, probs, caption, view, pending, shown = app.show_epoch(epoch, night)
    assert shown == epoch and page.shape[1] == night["width"] and f"Reasoning for epoch {epoch} (" in pending
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
    panel = app.explain(3, night)
    assert panel.startswith("<div class='reasoning-head'>Reasoning for epoch 3 (21:13:30), stage ")
    # the same as explaining epoch 3 within the whole night (the Space passes only the epoch and its neighbours)
    assert reasoning_text(panel) == eeg_vlm.explain_epoch(eeg_vlm.sample_night_path(), 3, model=str(model_dir),
                                                          progress=False)


def test_table_click_selects_its_epoch(app, staged):
    night = staged[4]
    event = gr.SelectData(None, {"index": [12, 2], "value": night["stages"][12]})
    assert app.select_row(night, event) == 12


def test_epoch_before_any_night_is_refused(app):
    with pytest.raises(gr.Error, match="No night is staged yet"):
        app.show_epoch(0, None)
    with pytest.raises(gr.Error, match="No night is staged yet"):
        app.explain(0, None)


def test_epoch_out_of_range_is_refused(app, staged):
    n = staged[4]["n_epochs"]
    for bad in (n, -1, 2.5, "five", None):
        with pytest.raises(gr.Error, match=f"expected a whole number from 0 to {n - 1}"):
            app.show_epoch(bad, staged[4])


# ----------------------------------------------------------------------------------------------- bad uploads
def test_no_upload_is_refused(app):
    with pytest.raises(gr.Error, match="Nothing was uploaded"):
        app.stage_upload(None)


def test_non_edf_upload_is_refused(app, tmp_path):
    path = tmp_path / "hypnogram.txt"
    path.write_text("epoch,stage\n0,W\n")
    with pytest.raises(gr.Error, match="'hypnogram.txt' is not an EDF file"):
        app.stage_upload(str(path))


def test_edf_without_eeg_channel_is_refused(app, tmp_path):
    path = write_edf(tmp_path / "eog_emg.edf", {"EOG horizontal": eeg_like(2), "EMG submental": eeg_like(2, seed=2)})
    with pytest.raises(gr.Error, match="No EEG channel found among"):
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
def test_served_app_stages_the_sample_and_explains_an_epoch(server, staged):
    from gradio_client import Client
    from PIL import Image

    client = Client(server, verbose=False)
    view, table, summary, files, first, status = client.predict(api_name="/stage_sample")
    night = staged[4]
    assert Path(view).suffix == ".png" and Image.open(view).size == (1360, night["view"]["image"].shape[0])
    assert [row[2] for row in table["data"]] == night["stages"]  # the served app stages as the handler does
    assert table["headers"][:4] == ["epoch", "onset_s", "stage", "confidence"]
    assert summary["data"][0][:2] == ["Time in bed", night["n_epochs"] / 2]
    assert [Path(f).name for f in files] == ["SC4991E0-PSG.hypnogram.csv", "SC4991E0-PSG.hypnogram.edf"]
    assert all(Path(f).stat().st_size > 0 for f in files) and first == 0 and "480 epochs" in status
    # the session's gr.State carries the night from one call to the next
    page, image, probs, caption, view, pending = client.predict(7, api_name="/show_epoch")
    assert Path(image).suffix == Path(page).suffix == ".png" and probs["label"] == night["stages"][7]
    assert {c["label"] for c in probs["confidences"]} == set(STAGES) and caption.startswith("Epoch 7 (21:15:30)")
    assert Image.open(page).size[0] == 1360 and "Reasoning for epoch 7 (" in pending
    panel = client.predict(7, api_name="/explain")
    assert reasoning_text(panel) == eeg_vlm.explain_epoch(eeg_vlm.sample_night_path(), 7,
                                                          model=os.environ["EEG_VLM_MODEL"], progress=False)


def test_served_app_checks_epoch_bounds_before_and_after_staging(server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    with pytest.raises(AppError, match="No night is staged yet"):  # not Gradio's slider range "between 0 and 1"
        client.predict(3, api_name="/show_epoch")
    with pytest.raises(AppError, match="No night is staged yet"):
        client.predict(3, api_name="/explain")
    client.predict(api_name="/stage_sample")
    for bad in (480, -1, 2.5):
        with pytest.raises(AppError, match=r"expected a whole number from 0 to 479 \(this night has 480 epochs"):
            client.predict(bad, api_name="/show_epoch")
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/show_epoch"]
    assert "between" not in str(info["parameters"][0])  # no stale range documented


def test_served_app_compares_with_the_scorer(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    _, table, *_ = client.predict(api_name="/stage_sample")
    agreement, per_stage, confusion, view = client.predict(api_name="/compare_sample_reference")
    assert agreement.startswith("**SC4991EX-Hypnogram.edf**: 478 epochs compared (2 left out")
    assert "Cohen's kappa" in agreement and Path(view).suffix == ".png"
    assert [row[0] for row in per_stage["data"]] == list(STAGES)
    assert sum(sum(row[1:]) for row in confusion["data"]) == 478
    # the same scorer as a CSV upload: one row per epoch with a 'stage' column
    stages = [row[2] for row in table["data"]]
    csv = tmp_path / "scorer.csv"
    csv.write_text("epoch,stage\n" + "".join(f"{i},{s}\n" for i, s in enumerate(stages)))
    agreement, per_stage, confusion, _ = client.predict(handle_file(csv), api_name="/compare_reference")
    assert "480 epochs compared" in agreement and "Agreement **100.0%**" in agreement


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
    with pytest.raises(AppError, match="No EEG channel found among"):
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
    from gradio_client.exceptions import AppError

    other = write_edf(tmp_path / "other.edf", {"EEG C4-M1": eeg_like(6, seed=5)})
    a, b = Client(server, verbose=False), Client(server, verbose=False)
    with ThreadPoolExecutor(2) as pool:  # both sessions stage at the same time
        first = pool.submit(a.predict, api_name="/stage_sample")
        second = pool.submit(b.predict, handle_file(other), api_name="/stage_upload")
        night_a, night_b = first.result(), second.result()
    assert len(night_a[1]["data"]) == 480 and len(night_b[1]["data"]) == 6  # different nights
    _, _, probs_a, *_ = a.predict(3, api_name="/show_epoch")
    _, _, probs_b, *_ = b.predict(3, api_name="/show_epoch")
    assert probs_a["label"] == night_a[1]["data"][3][2]
    assert probs_b["label"] == night_b[1]["data"][3][2]
    a.predict(10, api_name="/show_epoch")  # the sample night has epoch 10 ...
    with pytest.raises(AppError, match="from 0 to 5"):  # ... the other session's 6-epoch night does not
        b.predict(10, api_name="/show_epoch")


def test_two_sessions_view_the_sample_night_at_once(server):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    clients = [Client(server, verbose=False) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: c.predict(api_name="/stage_sample"), clients))
        captions = list(pool.map(lambda c: c.predict(20, api_name="/show_epoch")[3], clients))
    assert all(c.startswith("Epoch 20 (21:22:00)") for c in captions)


def test_claims_are_shown_checked_or_flagged(app):
    claims = [{"type": "slow_wave_fraction", "value": 0.42, "text": "slow waves cover 42 % of the epoch",
               "measured": 0.41, "ok": True},
              {"type": "spindle_count", "value": 7.0, "text": "detected 7 sleep spindles", "measured": 1.0,
               "ok": False},
              {"type": "scorer_stage", "value": "N2", "text": "the scorer marked N2", "measured": None, "ok": None}]
    text = app.format_claims(claims)
    assert "1/2 hold" in text
    assert "✓ slow waves cover 42 % of the epoch" in text
    assert "✗ FLAGGED detected 7 sleep spindles (spindle count measured 1.00)" in text
    assert "scorer marked" not in text and app.format_claims([]) == ""
    panel = app.reasoning_html("Reasoning for epoch 4", "Spindles: detected 7 sleep spindles. Stage: N2", claims)
    assert "<mark class='flagged' title='spindle count measured 1.00'>detected 7 sleep spindles</mark>" in panel
    assert panel.index("FLAGGED") < panel.index("✓ slow waves")  # flagged claims listed first, above the text


def test_each_neighbour_sentence_is_listed_once(app):
    """faithfulness.check_claims gives one claim per number of the neighbour sentence: the Space lists it once."""
    from eeg_vlm.reasoning.faithfulness import check_claims

    sentence = ("In the previous epoch, slow waves covered 3 % and alpha 10 %, with 2 spindles and 1 K-complex.")
    features = {"slow_wave_fraction": 0.0, "alpha_fraction": 0.0, "spindle_count": 0, "kcomplex_count": 0}
    prev = {"slow_wave_fraction": 0.03, "alpha_fraction": 0.10, "spindle_count": 2, "kcomplex_count": 4}
    claims = check_claims("6. Context: " + sentence, features, prev_features=prev)
    assert len([c for c in claims if c["text"] == sentence]) == 4  # what faithfulness.py gives today
    groups = app.group_claims(claims)
    assert [g["text"] for g in groups] == [sentence] and groups[0]["ok"] is False
    assert groups[0]["wrong"] == ["prev kcomplex count measured 4.00"]
    assert "0/1 hold" in app.format_claims(claims) and app.format_claims(claims).count(sentence) == 1


def test_messages_are_in_user_words_without_server_paths(app):
    message = app.user_message("data: '/tmp/gradio/3f2a/night.edf' holds no signals (only annotations, e.g. a "
                               "*-Hypnogram.edf); pass the PSG recording instead.")
    assert message == ("'night.edf' holds no signals (only annotations, e.g. a *-Hypnogram.edf); upload the PSG "
                       "recording instead.")
    message = app.user_message("channel: no EEG channel found among ['EOG']. Pass one of them as channel= (CLI: "
                               "--channel NAME), or leave channel unset. Export the EEG too.")
    assert message == "No EEG channel found among ['EOG']. Export the EEG too."


def test_reference_errors_are_told_in_the_page(app, staged, tmp_path):
    night = staged[4]
    with pytest.raises(gr.Error, match="Stage a night first"):
        app.compare_reference(str(tmp_path / "x.csv"), None)
    bad = tmp_path / "scores.csv"
    bad.write_text("epoch,label\n0,W\n")
    with pytest.raises(gr.Error, match="'scores.csv' has no 'stage' column"):
        app.compare_reference(str(bad), night)
    psg = write_edf(tmp_path / "psg.edf", {"EEG Fpz-Cz": eeg_like(2)})
    with pytest.raises(gr.Error, match="'psg.edf' holds signals: it is a recording, not a hypnogram"):
        app.compare_reference(str(psg), night)
    other = write_edf(tmp_path / "o.edf", {"EEG Fpz-Cz": eeg_like(2)})
    other_night = app.stage_upload(str(other))[4]
    with pytest.raises(gr.Error, match="belongs to the sample night"):
        app.compare_sample_reference(other_night)
