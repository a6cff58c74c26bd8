"""A fake Hugging Face hub on loopback, enough for ``hf_hub_download`` of a dataset file.

It answers the two requests huggingface_hub 2.4.0 makes for one file:

1. ``HEAD {endpoint}/datasets/{repo_id}/resolve/{revision}/{filename}`` (metadata, no
   redirects followed off the hub's origin). The client needs ``X-Repo-Commit`` and an ETag
   (``X-Linked-Etag`` or ``ETag``); it takes the size from ``X-Linked-Size`` or, when the
   answer is not a redirect, ``Content-Length``. Errors carry ``X-Error-Code``
   (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``, ``GatedRepo``), which is what
   ``hf_raise_for_status`` maps to exception classes.
2. ``GET`` on the URL the HEAD resolved to. ``Range: bytes=N-`` is honoured (the client sends
   it only to resume a broken transfer).

Like the real hub, a small file is served directly (``200`` with a git-blob ``ETag``), while an
LFS file (``lfs=True``) answers ``302`` with ``X-Linked-Etag: "<sha256>"`` and
``X-Linked-Size`` and a ``Location`` on a second server, the "CDN", on another port: another
origin, so the client does not follow it during HEAD and downloads from it directly. The CDN
addresses blobs by the SHA-256 of their true content, so give LFS files distinct contents.

Every request is recorded in :attr:`FakeHub.requests` so tests can check the client really
called the server. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

_RESOLVE_RE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_BLOB_RE = re.compile(r"^/blobs/(?P<sha>[0-9a-f]{64})$")
_RANGE_RE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake hub received it."""

    server: str  # "hub" or "cdn"
    method: str
    path: str  # unquoted, without the query string
    headers: dict[str, str]


@dataclass
class _File:
    content: bytes  # the true bytes: their digests go into the headers
    served: bytes  # the bytes actually sent (differ from ``content`` when corrupted)
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def git_sha1(self) -> str:
        header = f"blob {len(self.content)}\0".encode()
        return hashlib.sha1(header + self.content).hexdigest()


@dataclass
class _Repo:
    commits: dict[str, dict[str, _File]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    gated: bool = False


def closed_port_url() -> str:
    """Return ``http://127.0.0.1:<port>`` for a loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeHub:
    """Serve dataset files the way the Hugging Face hub does, on 127.0.0.1.

    Use as a context manager (or call :meth:`start` and :meth:`stop`); :attr:`url` is the value
    for ``HF_ENDPOINT``.

    Attributes
    ----------
    requests : list of RecordedRequest
        Requests received by the hub and the CDN, in order.
    outage : int or None
        When set, every resolve request is answered with this HTTP status (e.g. 503).
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.outage: int | None = None
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.Lock()
        self._hub = _make_server(self, "hub")
        self._cdn = _make_server(self, "cdn")
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """Endpoint of the hub, e.g. ``http://127.0.0.1:40123``."""
        return _server_url(self._hub)

    @property
    def cdn_url(self) -> str:
        """Origin that LFS downloads are redirected to."""
        return _server_url(self._cdn)

    def add_file(
        self,
        repo_id: str,
        filename: str,
        content: bytes,
        *,
        commit: str,
        refs: tuple[str, ...] = ("main",),
        lfs: bool = False,
        corrupt: bool = False,
    ) -> None:
        """Publish ``content`` as ``filename`` of dataset ``repo_id`` at ``commit``.

        Parameters
        ----------
        repo_id : str
            ``"namespace/name"``.
        filename : str
            Path of the file in the repo.
        content : bytes
            The file's bytes; headers advertise their size and digest.
        commit : str
            40-character commit hash the file belongs to.
        refs : tuple of str
            Branches or tags that resolve to ``commit``.
        lfs : bool
            Serve it as an LFS file: ``302`` to the CDN with ``X-Linked-*`` headers.
        corrupt : bool
            Send bytes of the same length as ``content`` but different, as a broken mirror
            would; the client's size check passes, only a digest check can catch it.
        """
        served = bytes([content[0] ^ 0xFF]) + content[1:] if corrupt and content else content
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            repo.commits.setdefault(commit, {})[filename] = _File(content, served, lfs)
            repo.refs.update(dict.fromkeys(refs, commit))

    def gate(self, repo_id: str) -> None:
        """Make ``repo_id`` gated: requests without an ``Authorization`` header get 401."""
        with self._lock:
            self._repos.setdefault(repo_id, _Repo()).gated = True

    def paths(self, method: str | None = None, server: str = "hub", prefix: str = "/") -> list[str]:
        """Paths requested on ``server``, optionally only those with ``method`` or ``prefix``.

        Besides file requests, the client may fetch ``/api/agent-harnesses`` once per process
        (huggingface_hub's agent detection for its user agent); ``prefix="/datasets/"``
        keeps only the file requests.
        """
        with self._lock:
            return [
                r.path
                for r in self.requests
                if r.server == server
                and (method is None or r.method == method)
                and r.path.startswith(prefix)
            ]

    def start(self) -> FakeHub:
        """Start serving in daemon threads."""
        for server in (self._hub, self._cdn):
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling (called from the server threads) ---------------------------------

    def _record(self, server: str, handler: BaseHTTPRequestHandler) -> str:
        path = unquote(urlsplit(handler.path).path)
        with self._lock:
            self.requests.append(
                RecordedRequest(server, handler.command, path, dict(handler.headers.items()))
            )
        return path

    def _resolve(self, handler: _Handler, path: str) -> None:
        match = _RESOLVE_RE.match(path)
        if match is None:
            handler.send_error_response(404, None, "Not Found")
            return
        if self.outage is not None:
            handler.send_error_response(self.outage, None, "Service Unavailable")
            return
        repo_id, revision, filename = match["repo"], match["rev"], match["file"]
        with self._lock:
            repo = self._repos.get(repo_id)
            commit = None if repo is None else repo.refs.get(revision, revision)
            files = None if repo is None else repo.commits.get(commit)
            hub_file = None if files is None else files.get(filename)
        if repo is None:
            handler.send_error_response(404, "RepoNotFound", "Repository not found")
        elif repo.gated and "Authorization" not in handler.headers:
            message = f"Access to dataset {repo_id} is restricted. You must be authenticated."
            handler.send_error_response(401, "GatedRepo", message)
        elif files is None:
            handler.send_error_response(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        elif hub_file is None:
            handler.send_error_response(
                404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit}
            )
        elif hub_file.lfs:
            handler.send_redirect(
                f"{self.cdn_url}/blobs/{hub_file.sha256}",
                {
                    "X-Repo-Commit": commit,
                    "X-Linked-Etag": f'"{hub_file.sha256}"',
                    "X-Linked-Size": str(len(hub_file.content)),
                    "ETag": f'"{hub_file.git_sha1}"',
                },
            )
        else:
            handler.send_body(
                hub_file.served, {"X-Repo-Commit": commit, "ETag": f'"{hub_file.git_sha1}"'}
            )

    def _blob(self, handler: _Handler, path: str) -> None:
        match = _BLOB_RE.match(path)
        with self._lock:
            found = [
                f
                for repo in self._repos.values()
                for files in repo.commits.values()
                for f in files.values()
                if match is not None and f.sha256 == match["sha"]
            ]
        if not found:
            handler.send_error_response(404, None, "Not Found")
            return
        handler.send_body(found[0].served, {"ETag": f'"{found[0].sha256}"'})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so stop() never waits on idle keep-alive sockets.
    protocol_version = "HTTP/1.0"

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        hub = self.server.hub
        path = hub._record(self.server.role, self)
        if self.server.role == "hub":
            hub._resolve(self, path)
        else:
            hub._blob(self, path)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.server.role, format % args)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_response(
        self,
        status: int,
        code: str | None,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json", **(extra or {})}
        if code is not None:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._send(status, headers, f'{{"error": "{message}"}}'.encode())

    def send_redirect(self, location: str, headers: dict[str, str]) -> None:
        body = f"Found. Redirecting to {location}".encode()
        self._send(302, {"Location": location, "Content-Type": "text/plain", **headers}, body)

    def send_body(self, data: bytes, headers: dict[str, str]) -> None:
        base = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", **headers}
        match = _RANGE_RE.match(self.headers.get("Range", ""))
        if match is None:
            self._send(200, base, data)
            return
        start = int(match["start"])
        end = int(match["end"]) if match["end"] else len(data) - 1
        if start >= len(data):
            self._send(416, {"Content-Range": f"bytes */{len(data)}"}, b"")
            return
        end = min(end, len(data) - 1)
        base["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, base, data[start : end + 1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub
    role: str


def _make_server(hub: FakeHub, role: str) -> _Server:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hub = hub
    server.role = role
    return server


def _server_url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
