"""A PEP 503 "simple" package index of a wheel directory, for tests.

Serves the local test wheels (tests/wheels/requirements.txt, downloaded by
scripts/install-deps.sh) on 127.0.0.1 at a free port, optionally behind HTTP
Basic authentication, so that tests can install "from an index" without a
network, and check that credentials given in requirements are used and
never shown:

    from pkgindex import serve_index   # or PackageIndex, the same arguments

    with serve_index(user="u", password="p") as index:   # the test wheels by default
        index.url                     # http://127.0.0.1:PORT/simple
        index.url_with_credentials    # http://u:p@127.0.0.1:PORT/simple
        ...                           # uv pip install --index-url ... six
        index.unauthorized            # requests answered 401 so far
        index.requests_with_good_auth # requests that carried the right credentials
        index.files_served            # wheel names sent so far (by GET; uv may fetch one twice)

Routes: /simple/ (the project list), /simple/<project>/ (its wheels, each
link with #sha256=...), /files/<wheel>. Without credentials configured every
request is served; with them, a request without the right
"Authorization: Basic ..." header gets 401 and a WWW-Authenticate challenge.
Standard library only. Run it by hand:

    .venv/bin/python tests/pkgindex.py [--user U --password P] [WHEEL_DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote


def default_wheels_dir() -> Path:
    """$LATTICE_TEST_WHEELS, else ~/.cache/lattice/test-wheels (as scripts/install-deps.sh)."""
    env = os.environ.get("LATTICE_TEST_WHEELS")
    return Path(env) if env else Path.home() / ".cache" / "lattice" / "test-wheels"


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


class PackageIndex:
    """A running index; a context manager that stops it on exit."""

    def __init__(self, wheels_dir: str | os.PathLike | None = None, user: str | None = None,
                 password: str | None = None):
        self.wheels_dir = Path(wheels_dir) if wheels_dir is not None else default_wheels_dir()
        wheels = sorted(p for p in self.wheels_dir.glob("*.whl") if p.is_file())
        if not wheels:
            raise FileNotFoundError(f"no wheels in {self.wheels_dir} (scripts/install-deps.sh downloads them)")
        self.projects: dict[str, list[tuple[str, str]]] = {}  # name -> [(file, sha256)]
        for w in wheels:
            digest = hashlib.sha256(w.read_bytes()).hexdigest()
            self.projects.setdefault(normalize(w.name.split("-", 1)[0]), []).append((w.name, digest))
        self.user, self.password = user, password
        self._expected = None
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._expected = f"Basic {token}"
        self._lock = threading.Lock()
        self.unauthorized = 0
        self.requests_with_good_auth = 0
        self.files_served: list[str] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="pkgindex", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    @property
    def url_with_credentials(self) -> str:
        if self.user is None:
            return self.url
        return f"http://{self.user}:{self.password or ''}@127.0.0.1:{self.port}/simple"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "PackageIndex":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def _handler(self):
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: tests read their own output
                pass

            def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                if index._expected is not None:
                    good = self.headers.get("Authorization") == index._expected
                    with index._lock:
                        if good:
                            index.requests_with_good_auth += 1
                        else:
                            index.unauthorized += 1
                    if not good:
                        self._send(401, b"authentication required\n", "text/plain",
                                   {"WWW-Authenticate": 'Basic realm="lattice test index"'})
                        return
                path = unquote(self.path.split("?", 1)[0])
                if path in ("/simple", "/simple/"):
                    links = "".join(f'<a href="/simple/{n}/">{html.escape(n)}</a>\n' for n in sorted(index.projects))
                    self._send(200, f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n".encode())
                    return
                m = re.fullmatch(r"/simple/([^/]+)(/?)", path)
                if m:
                    name = normalize(m.group(1))
                    if not m.group(2) or name != m.group(1):
                        self._send(301, b"", headers={"Location": f"/simple/{name}/"})
                        return
                    files = index.projects.get(name)
                    if files is None:
                        self._send(404, b"no such project\n", "text/plain")
                        return
                    links = "".join(f'<a href="/files/{html.escape(f)}#sha256={d}">{html.escape(f)}</a>\n'
                                    for f, d in files)
                    self._send(200, f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n".encode())
                    return
                m = re.fullmatch(r"/files/([^/]+\.whl)", path)
                if m and (index.wheels_dir / m.group(1)).is_file():
                    data = (index.wheels_dir / m.group(1)).read_bytes()
                    if self.command == "GET":
                        with index._lock:
                            index.files_served.append(m.group(1))
                    self._send(200, data, "application/octet-stream")
                    return
                self._send(404, b"not found\n", "text/plain")

        return Handler


def serve_index(wheels_dir: str | os.PathLike | None = None, user: str | None = None,
                password: str | None = None) -> PackageIndex:
    """A started PackageIndex; use it in a `with` statement, which stops it."""
    return PackageIndex(wheels_dir, user, password)


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve a wheel directory as a PEP 503 simple index on 127.0.0.1.")
    ap.add_argument("wheels", nargs="?", default=None, help="wheel directory (default: the test wheels)")
    ap.add_argument("--user", default=None)
    ap.add_argument("--password", default=None)
    a = ap.parse_args()
    with PackageIndex(a.wheels, a.user, a.password) as index:
        print(index.url_with_credentials, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
