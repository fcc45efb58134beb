"""`newsbench data download` against a loopback HTTP server that serves small MIND zips, with Range support."""

from __future__ import annotations

import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import pytest
from test_mind import DEV_BEH, DEV_NEWS, TRAIN_BEH, TRAIN_NEWS, write_split
from typer.testing import CliRunner

from newsbench.data import download
from newsbench.data.download import download_file, download_mind
from newsbench.data.mind import read_mind
from newsbench.errors import InputError


def split_zip(tmp: Path, news, beh) -> bytes:
    folder = tmp / "src"
    write_split(folder, news, beh)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
        # Padding so the file spans many read chunks and a mid-file drop leaves a real partial file.
        zf.writestr("padding.bin", bytes(range(256)) * 1024, compress_type=zipfile.ZIP_STORED)
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return buf.getvalue()


class Server:
    """Serves `files` by name; `drop_first` names files whose first GET is cut after half the body."""

    def __init__(self, files: dict[str, bytes], drop_first=(), honour_range=True):
        self.files = files
        self.drop_first = set(drop_first)
        self.honour_range = honour_range
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                outer.requests.append((name, rng))
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if name in outer.drop_first:
                    outer.drop_first.discard(name)
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/newsrec/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def demo_zips(tmp_path) -> dict[str, bytes]:
    return {"MINDdemo_train.zip": split_zip(tmp_path, TRAIN_NEWS, TRAIN_BEH),
            "MINDdemo_dev.zip": split_zip(tmp_path, DEV_NEWS + TRAIN_NEWS[:3], DEV_BEH)}


def test_download_resumes_after_dropped_connection(tmp_path, demo_zips):
    out = tmp_path / "out"
    with Server(demo_zips, drop_first={"MINDdemo_train.zip"}) as srv:
        report = download_mind("mind-demo", out, base_url=srv.url, progress=True)
    ranges = [r for n, r in srv.requests if n == "MINDdemo_train.zip"]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:-1]) > 0  # it asked only for the rest
    for name, body in demo_zips.items():
        assert (out / "zips" / name).read_bytes() == body
        assert report[name]["bytes"] == len(body) and report[name]["known_size"] is None
    assert not list(out.rglob("*.part")) and not list(out.glob(".tmp-*"))
    ds = read_mind(out)
    assert len(ds.train) == len(TRAIN_BEH) and len(ds.dev) == len(DEV_BEH)


def test_resume_from_existing_part_file(tmp_path, demo_zips):
    body = demo_zips["MINDdemo_dev.zip"]
    dest = tmp_path / "MINDdemo_dev.zip"
    (tmp_path / "MINDdemo_dev.zip.part").write_bytes(body[:1000])
    with Server(demo_zips) as srv:
        download_file(srv.url + "MINDdemo_dev.zip", dest)
    assert srv.requests == [("MINDdemo_dev.zip", "bytes=1000-")]
    assert dest.read_bytes() == body


def test_server_ignoring_range_restarts(tmp_path, demo_zips):
    body = demo_zips["MINDdemo_dev.zip"]
    dest = tmp_path / "MINDdemo_dev.zip"
    (tmp_path / "MINDdemo_dev.zip.part").write_bytes(b"x" * 500)
    with Server(demo_zips, honour_range=False) as srv:
        download_file(srv.url + "MINDdemo_dev.zip", dest)
    assert dest.read_bytes() == body


def test_wrong_size_is_an_error(tmp_path, demo_zips, monkeypatch):
    monkeypatch.setitem(download.KNOWN_SIZES, "MINDdemo_train.zip", len(demo_zips["MINDdemo_train.zip"]) + 7)
    out = tmp_path / "out"
    with Server(demo_zips) as srv, pytest.raises(InputError, match="known to be"):
        download_mind("mind-demo", out, base_url=srv.url, progress=False)
    assert not (out / "zips" / "MINDdemo_train.zip").exists() and not (out / "MINDdemo_train").exists()


def test_http_error_and_offline(tmp_path, demo_zips):
    with Server(demo_zips) as srv, pytest.raises(InputError, match="HTTP 404"):
        download_mind("mind-small", tmp_path, base_url=srv.url, progress=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(InputError, match="cannot reach") as err:
        download_mind("mind-demo", tmp_path, base_url=f"http://127.0.0.1:{port}/", progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown dataset"):
        download_mind("mind-huge", tmp_path)


def test_bad_zip_is_removed(tmp_path):
    with Server({"MINDdemo_train.zip": b"not a zip" * 100}) as srv, pytest.raises(InputError, match="not a valid zip"):
        download_mind("mind-demo", tmp_path, base_url=srv.url, parts=["train"], progress=False)
    assert not (tmp_path / "zips" / "MINDdemo_train.zip").exists() and not (tmp_path / "MINDdemo_train").exists()


def test_cli_download_with_env_base_url(tmp_path, demo_zips, monkeypatch):
    from newsbench.cli import app

    out = tmp_path / "mind"
    with Server(demo_zips) as srv:
        monkeypatch.setenv("NEWSBENCH_MIND_URL", srv.url)
        result = CliRunner().invoke(app, ["data", "download", "mind-demo", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "MINDdemo_train.zip" in result.output and "no known size" in result.output
    assert (out / "MINDdemo_train" / "news.tsv").is_file() and (out / "MINDdemo_dev" / "behaviors.tsv").is_file()
