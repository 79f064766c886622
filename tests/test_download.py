"""Tests for eeg_vlm.dataset_builder.download against a loopback HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import logging
import re
import threading

import numpy as np
import pytest

from eeg_vlm.dataset_builder.download import download, load_checksums, main, night_files, parse_subjects

SUBSET = "sleep-cassette"


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files from ``server.root`` with optional HTTP Range support and records every request."""

    def do_GET(self):  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        path = srv.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and srv.honour_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_error(416)
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_after is not None:  # simulate a dropped connection: promise everything, send a part
            body, srv.drop_after = body[: srv.drop_after], None
            self.close_connection = True
        self.wfile.write(body)
        srv.bytes_sent += len(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def server(tmp_path):
    """A threaded loopback server serving tmp_path/www with two small Sleep-EDFx-named nights."""
    root = tmp_path / "www"
    (root / SUBSET).mkdir(parents=True)
    rng = np.random.default_rng(0)
    table = {}
    for name in ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf", "SC4002E0-PSG.edf", "SC4002EC-Hypnogram.edf",
                 "SC4131E0-PSG.edf", "SC4131EC-Hypnogram.edf"):
        data = rng.integers(0, 256, size=int(rng.integers(5000, 9000)), dtype=np.uint8).tobytes()
        (root / SUBSET / name).write_bytes(data)
        table[name] = hashlib.sha256(data).hexdigest()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.root, httpd.requests, httpd.honour_range, httpd.bytes_sent, httpd.drop_after = root, [], True, 0, None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.table = table
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_parse_subjects_reads_ranges_and_lists():
    assert parse_subjects("0-3,25") == [0, 1, 2, 3, 25]
    assert parse_subjects([5, 2, 2]) == [2, 5]
    assert parse_subjects(7) == [7]
    with pytest.raises(ValueError, match="subjects"):
        parse_subjects("3-1")
    with pytest.raises(ValueError, match="subjects"):
        parse_subjects("a-b")


def test_shipped_lists_name_153_cassette_and_44_telemetry_nights():
    sc_table = load_checksums("sleep-cassette")
    st_table = load_checksums("sleep-telemetry")
    assert sum(n.endswith("-PSG.edf") for n in sc_table) == 153
    assert sum(n.endswith("-PSG.edf") for n in st_table) == 44
    assert sc_table["SC4001EC-Hypnogram.edf"] == "a4cf67694ade1b52a0ddd06d5817fd45d2d3e8bac5302f640f3e9cfbbf12a996"
    assert night_files("sleep-telemetry", "1", checksums=st_table) == [
        (1, 1, "ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf"), (1, 2, "ST7012J0-PSG.edf", "ST7012JP-Hypnogram.edf")]


def test_missing_night_warns_and_is_skipped(caplog):
    table = load_checksums("sleep-cassette")
    with caplog.at_level(logging.WARNING):
        files = night_files("sleep-cassette", [13], checksums=table)
    assert [(s, n) for s, n, _, _ in files] == [(13, 1)]
    assert "no night 2" in caplog.text


def test_absent_subject_raises_with_available_range():
    with pytest.raises(ValueError, match=r"subject 39 .*available subjects: 0-38, 40-67, 70-77, 80-82"):
        night_files("sleep-cassette", [39], checksums=load_checksums("sleep-cassette"))


def test_downloads_and_verifies_every_file(server, tmp_path):
    out = tmp_path / "out"
    paths = download(subset=SUBSET, subjects="0", out_dir=out, base_url=server.base_url, checksums=server.table,
                     progress=False)
    assert [p.name for p in paths] == ["SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf",
                                       "SC4002E0-PSG.edf", "SC4002EC-Hypnogram.edf"]
    for p in paths:
        assert p.read_bytes() == (server.root / SUBSET / p.name).read_bytes()
    assert not list(out.glob("*.part"))
    assert [r[0] for r in server.requests] == [f"/{SUBSET}/{p.name}" for p in paths]


def test_resumes_partial_file_requesting_only_the_remainder(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    full = (server.root / SUBSET / "SC4001E0-PSG.edf").read_bytes()
    (out / "SC4001E0-PSG.edf.part").write_bytes(full[:3000])
    download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
             checksums=server.table, progress=False)
    assert (out / "SC4001E0-PSG.edf").read_bytes() == full
    assert server.requests[0] == (f"/{SUBSET}/SC4001E0-PSG.edf", "bytes=3000-")
    hyp_size = (server.root / SUBSET / "SC4001EC-Hypnogram.edf").stat().st_size
    assert server.bytes_sent == (len(full) - 3000) + hyp_size


def test_dropped_connection_is_resumed_from_where_it_stopped(server, tmp_path, caplog):
    server.drop_after = 2500
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
                 checksums=server.table, progress=False)
    full = (server.root / SUBSET / "SC4001E0-PSG.edf").read_bytes()
    assert (out / "SC4001E0-PSG.edf").read_bytes() == full
    assert server.requests[:2] == [(f"/{SUBSET}/SC4001E0-PSG.edf", None),
                                   (f"/{SUBSET}/SC4001E0-PSG.edf", "bytes=2500-")]
    assert "resuming" in caplog.text


def test_restarts_when_server_ignores_range(server, tmp_path, caplog):
    server.honour_range = False
    out = tmp_path / "out"
    out.mkdir()
    full = (server.root / SUBSET / "SC4001E0-PSG.edf").read_bytes()
    (out / "SC4001E0-PSG.edf.part").write_bytes(full[:3000])
    with caplog.at_level(logging.WARNING):
        download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
                 checksums=server.table, progress=False)
    assert (out / "SC4001E0-PSG.edf").read_bytes() == full
    assert "ignored the Range request" in caplog.text


def test_refuses_corrupted_file_and_keeps_nothing(server, tmp_path):
    target = server.root / SUBSET / "SC4001E0-PSG.edf"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"SC4001E0-PSG\.edf .*SHA-256 [0-9a-f]{64}, expected "
                                         + server.table["SC4001E0-PSG.edf"]):
        download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
                 checksums=server.table, progress=False)
    assert not (out / "SC4001E0-PSG.edf").exists()
    assert not (out / "SC4001E0-PSG.edf.part").exists()


def test_skips_files_already_present_with_right_hash(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"):
        (out / name).write_bytes((server.root / SUBSET / name).read_bytes())
    paths = download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
                     checksums=server.table, progress=False)
    assert len(paths) == 2
    assert server.requests == []


def test_replaces_final_file_with_wrong_hash(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "SC4001E0-PSG.edf").write_bytes(b"not the right content")
    download(subset=SUBSET, subjects=[0], nights=(1,), out_dir=out, base_url=server.base_url,
             checksums=server.table, progress=False)
    assert (out / "SC4001E0-PSG.edf").read_bytes() == (server.root / SUBSET / "SC4001E0-PSG.edf").read_bytes()


def test_checksum_file_override_and_bad_base_url(server, tmp_path):
    sums = tmp_path / "SUMS.txt"
    sums.write_text("".join(f"{h} {n}\n" for n, h in server.table.items()))
    assert load_checksums(SUBSET, checksums=sums) == server.table
    with pytest.raises(ValueError, match="base_url"):
        download(subset=SUBSET, subjects=[0], out_dir=tmp_path, base_url="ftp://x", checksums=sums)
    with pytest.raises(ValueError, match="subset"):
        download(subset="sleep-other", subjects=[0], out_dir=tmp_path, checksums=sums)


def test_command_line_downloads_the_selected_nights(server, tmp_path, capsys):
    sums = tmp_path / "SUMS.txt"
    sums.write_text("".join(f"{h} {n}\n" for n, h in server.table.items()))
    out = tmp_path / "cli"
    status = main(["--subjects", "0,13", "--nights", "1", "--out", str(out), "--base-url", server.base_url,
                   "--checksums", str(sums), "--no-progress"])
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf",
                                                     "SC4131E0-PSG.edf", "SC4131EC-Hypnogram.edf"]
    assert "4 files verified" in capsys.readouterr().out


def test_sleep_edf20_features_download_is_pinned_verified_and_resumable(server):
    """The 20 feature files come from the pinned commit URL, each checked against the shipped SHA-256."""
    from eeg_vlm.dataset_builder.download import FEATURES_SUBSET, FEATURES_URL, download_features

    shipped = load_checksums(FEATURES_SUBSET)
    assert len(shipped) == 20 and "SC4001E0.npz" in shipped
    assert "f9078144e1c77fc6ac990d99b05e76ee1c8670a5" in FEATURES_URL  # a full commit, never a branch
    www = server.root / "features"
    www.mkdir()
    table = {}
    for k, name in enumerate(("SC4001E0.npz", "SC4002E0.npz")):
        data = bytes(range(256)) * (k + 3)
        (www / name).write_bytes(data)
        table[name] = hashlib.sha256(data).hexdigest()
    out = server.root.parent / "got"
    paths = download_features(out_dir=out, base_url=server.base_url + "features/", checksums=table, progress=False)
    assert [p.name for p in paths] == ["SC4001E0.npz", "SC4002E0.npz"]
    assert all(p.read_bytes() == (www / p.name).read_bytes() for p in paths)
    (www / "SC4002E0.npz").write_bytes(b"tampered")
    (out / "SC4002E0.npz").unlink()
    with pytest.raises(ValueError, match="SHA-256|sha256"):
        download_features(out_dir=out, base_url=server.base_url + "features/", checksums=table, progress=False)
    assert not (out / "SC4002E0.npz").exists()
