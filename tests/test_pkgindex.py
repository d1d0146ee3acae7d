"""tests/pkgindex.py, the local package index of the environment tests,
checked with the installer the agent uses: uv (.venv/bin/uv) installs the
test wheels from it into a throwaway venv, with and without Basic auth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pkgindex import PackageIndex, default_wheels_dir, serve_index  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
UV = REPO / ".venv" / "bin" / "uv"

pytestmark = [
    pytest.mark.skipif(not UV.exists(), reason="no .venv/bin/uv (scripts/install-deps.sh installs it)"),
    pytest.mark.skipif(not any(default_wheels_dir().glob("*.whl")),
                       reason=f"no test wheels in {default_wheels_dir()} (scripts/install-deps.sh)"),
]


def uv(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "LATTICE_"))}
    env.update(UV_CACHE_DIR=str(cache), UV_NO_PROGRESS="1", NO_COLOR="1", UV_HTTP_RETRIES="0",
               UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    return subprocess.run([str(UV), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    r = uv("venv", "--no-project", "--python", sys.executable, str(tmp_path / "venv"), cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    return tmp_path / "venv"


def test_uv_installs_from_the_index_with_credentials_and_is_refused_without(venv: Path, tmp_path: Path):
    with serve_index(default_wheels_dir(), user="u", password="s3cret") as index:
        assert index.url_with_credentials == f"http://u:s3cret@127.0.0.1:{index.port}/simple"
        r = uv("pip", "install", "--python", str(venv / "bin" / "python"), "--index-url", index.url,
               "python-dateutil==2.9.0.post0", cache=tmp_path / "cache-a")
        assert r.returncode != 0
        assert index.unauthorized >= 1 and not index.files_served and index.requests_with_good_auth == 0
        r = uv("pip", "install", "--python", str(venv / "bin" / "python"), "--index-url",
               index.url_with_credentials, "python-dateutil==2.9.0.post0", cache=tmp_path / "cache-b")
        assert r.returncode == 0, r.stderr
        assert index.requests_with_good_auth > 0
        assert set(index.files_served) == {"python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
                                           "six-1.16.0-py2.py3-none-any.whl"}
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import dateutil, six"], capture_output=True)
    assert check.returncode == 0, check.stderr


def test_an_open_index_serves_without_credentials(venv: Path, tmp_path: Path):
    with PackageIndex() as index:
        assert index.url_with_credentials == index.url
        r = uv("pip", "install", "--python", str(venv / "bin" / "python"), "--index-url", index.url, "six",
               cache=tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        assert set(index.files_served) == {"six-1.16.0-py2.py3-none-any.whl"}
