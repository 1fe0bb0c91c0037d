"""RAVDESS fetcher against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile

import pytest

from _data_trees import ravdess_tree, zip_of
from audit.data import load_data
from audit.data.fetch import FETCH_RECORD, RAVDESS_ARCHIVE, fetch_ravdess
from audit.errors import AuditError


class _Server:
    """Serves ``payload`` at ``/archive.zip`` with HTTP Range support; records each request."""

    def __init__(self, payload: bytes, honour_range: bool = True):
        self.payload, self.honour_range, self.requests = payload, honour_range, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                owner.requests.append(self.headers.get("Range"))
                if self.path != "/archive.zip":
                    self.send_error(404)
                    return
                data, start = owner.payload, 0
                m = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if m and owner.honour_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def archive(tmp_path):
    tree = ravdess_tree(tmp_path / "tree", actors=(1, 2))
    data = zip_of(tree, tmp_path / "good.zip").read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def test_fetch_verify_extract_and_idempotent(tmp_path, archive):
    data, digest = archive
    dest = tmp_path / "ravdess"
    with _Server(data) as server:
        record = fetch_ravdess(dest, url=server.url, sha256=digest)
        assert record["verified"] and record["sha256"] == digest and not record["skipped"]
        assert len(record["files"]) == 14 and (dest / FETCH_RECORD).is_file()
        assert len(load_data(dest)) == 14
        again = fetch_ravdess(dest, url=server.url, sha256=digest)
        assert again["skipped"] and len(server.requests) == 1  # no second download


def test_resume_partial_download(tmp_path, archive):
    data, digest = archive
    dest = tmp_path / "ravdess"
    dest.mkdir()
    (dest / f"{RAVDESS_ARCHIVE}.part").write_bytes(data[:1000])
    with _Server(data) as server:
        record = fetch_ravdess(dest, url=server.url, sha256=digest)
    assert server.requests == ["bytes=1000-"] and record["sha256"] == digest
    assert (dest / RAVDESS_ARCHIVE).read_bytes() == data and not (dest / f"{RAVDESS_ARCHIVE}.part").exists()


def test_server_ignoring_range_restarts(tmp_path, archive):
    data, digest = archive
    dest = tmp_path / "ravdess"
    dest.mkdir()
    (dest / f"{RAVDESS_ARCHIVE}.part").write_bytes(b"x" * 1000)  # junk that must not survive
    with _Server(data, honour_range=False) as server:
        assert fetch_ravdess(dest, url=server.url, sha256=digest)["sha256"] == digest


def test_unverified_fetch_records_the_hash(tmp_path, archive):
    data, digest = archive
    with _Server(data) as server:
        record = fetch_ravdess(tmp_path / "d", url=server.url, keep_archive=False)
    assert record["sha256"] == digest and not record["verified"]
    assert not (tmp_path / "d" / RAVDESS_ARCHIVE).exists()


def test_checksum_mismatch_extracts_nothing(tmp_path, archive):
    data, _ = archive
    dest = tmp_path / "d"
    with _Server(data) as server, pytest.raises(AuditError, match="sha256 mismatch"):
        fetch_ravdess(dest, url=server.url, sha256="0" * 64)
    assert not (dest / "Actor_01").exists() and not (dest / RAVDESS_ARCHIVE).exists()
    with pytest.raises(AuditError, match="not a 64-digit hex"):
        fetch_ravdess(dest, url="http://127.0.0.1:9/x", sha256="abc")


@pytest.mark.parametrize("member, why", [("../evil.txt", "'..'"), ("/tmp/evil.txt", "absolute path"),
                                         ("Actor_01/link", "symbolic link")])
def test_hostile_member_refuses_the_archive(tmp_path, member, why):
    tree = ravdess_tree(tmp_path / "tree", actors=(1, 2))
    bad = tmp_path / "bad.zip"
    zip_of(tree, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        info = zipfile.ZipInfo(member)
        if why == "symbolic link":
            info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd" if why == "symbolic link" else "owned")
    dest = tmp_path / "out" / "d"
    with _Server(bad.read_bytes()) as server, pytest.raises(AuditError, match=f"refusing.*{member}.*{why}"):
        fetch_ravdess(dest, url=server.url)
    assert not (tmp_path / "out" / "evil.txt").exists() and not (dest / "Actor_01").exists()


def test_http_errors_are_one_line(tmp_path):
    with _Server(b"") as server, pytest.raises(AuditError, match="HTTP 404"):
        fetch_ravdess(tmp_path, url=server.url.replace("archive", "missing"))
    with pytest.raises(AuditError, match="download failed"):
        fetch_ravdess(tmp_path / "x", url="http://127.0.0.1:9/none.zip")
