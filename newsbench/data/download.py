"""Download and unpack the official MIND zips, resuming partial downloads with HTTP Range requests.

`download_mind("mind-small", out)` fetches `MINDsmall_train.zip` and `MINDsmall_dev.zip` (and `_utils.zip` with
`parts=("train", "dev", "utils")`) from the official base URL (or `base_url`, or $NEWSBENCH_MIND_URL), into
`out/zips/`, then unzips each into `out/MINDsmall_<part>/`, which `newsbench.data.load_dataset(out)` reads.

Safety: bytes go to `<zip>.part`; an interrupted download (a dropped connection, Ctrl-C) keeps the part file and the
next attempt asks the server for the rest (`Range: bytes=<have>-`). The zip is renamed into place only when its size
matches the server's and, where we know it, the official size. Each zip is extracted into a temporary folder that is
renamed onto `MINDsmall_<part>/` at the end, so a folder of that name is always complete.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from newsbench.atomic import TMP_PREFIX
from newsbench.errors import InputError

BASE_URL = "https://recodatasets.z20.web.core.windows.net/newsrec/"
URL_ENV = "NEWSBENCH_MIND_URL"
DATASETS = {"mind-demo": "MINDdemo", "mind-small": "MINDsmall", "mind-large": "MINDlarge"}
PARTS = ("train", "dev", "utils")
DEFAULT_PARTS = ("train", "dev")
# Official sizes we have seen; any other file's size is taken from the server and reported, never assumed.
KNOWN_SIZES = {
    "MINDsmall_train.zip": 52_994_575,
    "MINDsmall_dev.zip": 30_948_560,
    "MINDsmall_utils.zip": 155_178_106,
}
CHUNK = 1 << 16
RETRIES = 5

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)


def file_names(dataset: str, parts: Iterable[str] = DEFAULT_PARTS) -> list[str]:
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    names = []
    for part in parts:
        if part not in PARTS:
            raise InputError(f"unknown part {part!r}; choose among {', '.join(PARTS)}")
        names.append(f"{DATASETS[dataset]}_{part}.zip")
    return names


def resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get(URL_ENV) or BASE_URL
    return url if url.endswith("/") else url + "/"


def _total_from(resp, have: int) -> int | None:
    """The full file size from a 206's Content-Range or a 200's Content-Length."""
    cr = resp.headers.get("Content-Range")
    if cr:
        m = re.match(r"bytes\s+\d+-\d+/(\d+)", cr)
        if m:
            return int(m.group(1))
    cl = resp.headers.get("Content-Length")
    if cl and cl.isdigit():
        return int(cl) + (have if resp.status == 206 else 0)
    return None


def download_file(url: str, dest: Path, expected_size: int | None = None, on_progress: ProgressFn | None = None,
                  timeout: float = 30.0, retries: int = RETRIES) -> Path:
    """Download `url` to `dest` through `dest.part`, resuming what is there; return `dest`.

    Retries a dropped connection up to `retries` times, each time resuming from the bytes already on disk.
    Raises InputError (one line) when the server is unreachable, answers an HTTP error, or the size is wrong.
    """
    dest = Path(dest)
    name = dest.name
    if dest.exists() and (expected_size is None or dest.stat().st_size == expected_size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total: int | None = None
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have == total:
            break
        req = urllib.request.Request(url, headers={"User-Agent": "newsbench"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:
                # Our part file is at least as long as the file: check it below rather than guessing.
                total = have if total is None else total
                break
            raise InputError(f"HTTP {err.code} {err.reason} for {url}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            if attempt < retries and have:
                attempt += 1
                continue
            raise InputError(f"cannot reach {url} ({reason}); check the network, or point --base-url / "
                             f"${URL_ENV} at a mirror") from None
        with resp:
            if have and resp.status != 206:
                have = 0  # the server ignored Range: start over
            total = _total_from(resp, have)
            if expected_size is not None and total is not None and total != expected_size:
                raise InputError(f"{url}: the server reports {total:,} bytes, but {name} is known to be "
                                 f"{expected_size:,} bytes; not saving it")
            try:
                with open(part, "ab" if have else "wb") as fh:
                    got = have
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        fh.write(block)
                        got += len(block)
                        if on_progress:
                            on_progress(name, got, total)
            except (OSError, http.client.HTTPException, socket.timeout) as err:
                if attempt < retries:
                    attempt += 1
                    continue  # resume from what reached the disk
                raise InputError(f"download of {url} kept failing ({err}); rerun to resume from "
                                 f"{part.stat().st_size:,} bytes") from None
        got = part.stat().st_size
        if total is None:
            total = got  # no length header: trust a clean end of stream
        if got < total:
            if attempt < retries:
                attempt += 1
                continue
            raise InputError(f"download of {url} stopped at {got:,} of {total:,} bytes; rerun to resume")
        break
    got = part.stat().st_size
    want = expected_size if expected_size is not None else total
    if want is not None and got != want:
        part.unlink()
        raise InputError(f"{url}: downloaded {got:,} bytes, expected {want:,}; removed the partial file, rerun")
    os.replace(part, dest)
    return dest


def extract_zip(zip_path: Path, target: Path) -> Path:
    """Unzip into a temporary folder beside `target`, then rename it onto `target` (skip if it exists)."""
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + target.name + ".", dir=target.parent))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                for member in zf.namelist():
                    p = Path(member)
                    if p.is_absolute() or ".." in p.parts:
                        raise InputError(f"unsafe path {member!r} in the zip", file=zip_path)
                zf.extractall(tmp)
        except zipfile.BadZipFile as err:
            zip_path.unlink()  # a rerun downloads it again
            raise InputError(f"not a valid zip file ({err}); removed it, rerun to download again",
                             file=zip_path) from None
        entries = [e for e in tmp.iterdir() if not e.name.startswith("__MACOSX")]
        # Some zips wrap everything in one folder; MIND's readers expect the files directly in the split folder.
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        os.replace(root, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_mind(dataset: str, out: str | os.PathLike, base_url: str | None = None,
                  parts: Iterable[str] = DEFAULT_PARTS, progress: bool = True,
                  timeout: float = 30.0) -> dict[str, dict]:
    """Download and unzip `dataset` ("mind-demo", "mind-small", "mind-large") into `out`.

    Returns, per zip name, {"url", "bytes", "known_size" (None when we don't know it), "folder"}.
    """
    # Everything that can be checked is checked before the first folder is made.
    names = file_names(dataset, parts)
    base = resolve_base_url(base_url)
    url = urllib.parse.urlsplit(base)
    if url.scheme not in ("http", "https", "file") or (url.scheme != "file" and not url.netloc):
        raise InputError(f"--base-url {base_url or base!r}: not a URL; give http(s)://HOST/PATH/ or file:///FOLDER/")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; choose a folder")
    made = [p for p in (out, out / "zips") if not p.exists()]
    try:
        (out / "zips").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    report: dict[str, dict] = {}
    try:
        with _bar(progress) as on_progress:
            for name in names:
                known = KNOWN_SIZES.get(name)
                zip_path = download_file(base + name, out / "zips" / name, known, on_progress, timeout)
                folder = extract_zip(zip_path, out / name[: -len(".zip")])
                report[name] = {"url": base + name, "bytes": zip_path.stat().st_size, "known_size": known,
                                "folder": str(folder)}
    except BaseException:
        # A failed first download leaves no empty folders behind (a partial zip stays, for the resume).
        for p in reversed(made):
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    return report


@contextlib.contextmanager
def _bar(enabled: bool) -> Iterator[ProgressFn | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        yield on_progress
