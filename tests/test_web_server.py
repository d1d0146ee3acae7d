"""The server side of the web UI against a real server (and agents): the
static files it serves outside /api/ (with --web-dir), their safety and
caching, the token model, and the API the UI needs: paged and filtered run
lists, events without the first dump, attempts with their end reasons,
reruns and what runs on each node; and `lattice ui`. 127.0.0.1 only."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import lattice_env

INDEX = b"<!doctype html><title>Lattice</title><div id=root></div>"
ASSET = b"console.log('app');\n"


# --------------------------------------------------------------------------
# Helpers

class Resp:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def call(server, method: str, path: str, body=None, headers: dict | None = None, token: str | None = None,
         timeout: float = 30.0) -> Resp:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def api(server, method: str, path: str, body=None, expect: int | None = 200, token: str | None = None) -> Resp:
    r = call(server, method, "/api/v1" + path, body, token=token)
    if expect is not None:
        assert r.status == expect, f"{method} {path}: {r}\n{server.log_tail()}"
    return r


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_experiment(server, run: str, states, timeout: float = 60.0) -> dict:
    states = {states} if isinstance(states, str) else set(states)

    def reached():
        doc = api(server, "GET", f"/runs/{run}").json
        return doc if doc["experiments"][0]["state"] in states else None
    return wait_for(reached, timeout, f"run {run} in {states}")


def cli(lattice_bin, server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(lattice_bin), "--home", str(server.home), "--server", server.url, *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=lattice_env(server.home))
    if check:
        assert proc.returncode == 0, f"lattice {' '.join(map(str, args))}: {proc.returncode}\n{proc.stderr}"
    return proc


def submit(lattice_bin, server, code: Path, script: str, *args: str, name: str) -> str:
    out = cli(lattice_bin, server, "run", "--name", name, code / script, *args)
    return out.stdout.strip()


# --------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope="module")
def web_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "outside-secret.txt").write_text("not for the web\n")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "app-abc123.js").write_bytes(ASSET)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    os.symlink(root / "outside-secret.txt", dist / "assets" / "leak.txt")
    os.symlink(root, dist / "up")
    return dist


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("code")
    (d / "hello.sh").write_text('echo "hello $*"\n')
    (d / "fail.sh").write_text("echo bad\nexit 3\n")
    (d / "wait.sh").write_text("trap 'exit 143' TERM\necho started\nsleep 20 &\nwait $!\n")
    return d


@pytest.fixture(scope="module")
def server(lattice_servers, web_dir):
    return lattice_servers("--web-dir", str(web_dir))


@pytest.fixture(scope="module")
def agent(server, lattice_agents):
    return lattice_agents(server)


@pytest.fixture(scope="module")
def token_server(lattice_servers, web_dir):
    return lattice_servers("--require-token", "--web-dir", str(web_dir))


# --------------------------------------------------------------------------
# Static files

def test_index_for_the_root_and_client_routes(server):
    for path in ("/", "/runs/x", "/runs/brave-otter-1/experiments/0", "/nodes", "/index.html"):
        r = call(server, "GET", path)
        assert r.status == 200 and r.body == INDEX, (path, r)
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        csp = r.headers["content-security-policy"]
        for part in ("default-src 'self'", "connect-src 'self'", "img-src 'self' data: blob:",
                     "style-src 'self' 'unsafe-inline'", "object-src 'none'", "base-uri 'none'",
                     "frame-ancestors 'none'"):
            assert part in csp, (part, csp)
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["etag"]


def test_assets_are_immutable_and_missing_files_404(server):
    r = call(server, "GET", "/assets/app-abc123.js")
    assert r.status == 200 and r.body == ASSET
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-security-policy" not in r.headers
    assert call(server, "GET", "/favicon.svg").headers["content-type"] == "image/svg+xml"
    missing = call(server, "GET", "/assets/nope.js")
    assert missing.status == 404 and missing.headers["content-type"].startswith("text/plain"), missing


def test_head_and_conditional_get(server):
    head = call(server, "HEAD", "/assets/app-abc123.js")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(ASSET)
    etag = head.headers["etag"]
    r = call(server, "GET", "/assets/app-abc123.js", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.headers["etag"] == etag
    assert call(server, "GET", "/", headers={"If-None-Match": '"stale"'}).status == 200
    index_etag = call(server, "HEAD", "/").headers["etag"]
    assert call(server, "GET", "/runs/x", headers={"If-None-Match": index_etag}).status == 304


def test_files_are_read_at_request_time(server, web_dir):
    page = web_dir / "later.txt"
    assert call(server, "GET", "/later.txt").status == 404
    page.write_text("built later\n")
    try:
        r = call(server, "GET", "/later.txt")
        assert r.status == 200 and r.body == b"built later\n" and r.headers["content-type"].startswith("text/plain")
    finally:
        page.unlink()


def test_escapes_and_symlinks_out_are_refused(server):
    for path in ("/../etc/passwd", "/assets/../../outside-secret.txt", "/%2e%2e/outside-secret.txt",
                 "/assets/%2e%2e/%2e%2e/outside-secret.txt", "/assets/..%5c..%5coutside-secret.txt",
                 "/assets/app-abc123.js%00.html"):
        r = call(server, "GET", path)
        assert r.status == 400 and b"not for the web" not in r.body, (path, r)
        assert b"refused path" in r.body
    for path in ("/assets/leak.txt", "/up/outside-secret.txt"):
        r = call(server, "GET", path)
        assert r.status == 404 and b"not for the web" not in r.body, (path, r)


def test_other_methods_outside_the_api_are_not_served(server):
    for method in ("POST", "PUT", "DELETE"):
        r = call(server, method, "/", body=b"{}" if method != "DELETE" else None)
        assert r.status == 404 and r.json["error"]["message"].startswith("no such endpoint"), r


def test_not_built_page_says_how(lattice_servers, tmp_path):
    # The binary's own web/dist may exist: point the server at an empty tree instead.
    empty = tmp_path / "nothing-built"
    empty.mkdir()
    s = lattice_servers("--web-dir", str(empty))
    r = call(s, "GET", "/")
    assert r.status == 404 and r.headers["content-type"].startswith("text/html")
    assert b"bash scripts/build-web.sh" in r.body and b"--web-dir" in r.body


def test_a_web_dir_that_is_not_a_directory_stops_the_server(lattice_bin, tmp_path):
    proc = subprocess.run([str(lattice_bin), "--home", str(tmp_path / "home"), "server", "--port", "0",
                           "--web-dir", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=30, env=lattice_env(tmp_path / "home"))
    assert proc.returncode != 0
    assert "--web-dir" in proc.stdout + proc.stderr and "missing" in proc.stdout + proc.stderr


def test_static_files_need_no_token_but_the_api_does(token_server):
    assert token_server.info["token_required"] is True
    for path in ("/", "/runs/x", "/assets/app-abc123.js"):
        assert call(token_server, "GET", path).status == 200, path
        assert call(token_server, "HEAD", path).status == 200, path
    anonymous = call(token_server, "GET", "/api/v1/runs")
    assert anonymous.status == 401 and anonymous.json["error"]["code"] == "unauthenticated"
    assert call(token_server, "GET", "/api/v1/runs", token="0" * 64).status == 401
    ok = call(token_server, "GET", "/api/v1/runs", token=token_server.token)
    assert ok.status == 200 and ok.json == {"runs": [], "total": 0}
    # The token never shows up in what the static files carry.
    assert token_server.token.encode() not in call(token_server, "GET", "/").body


# --------------------------------------------------------------------------
# `lattice ui`

def test_lattice_ui_prints_the_address(lattice_bin, server, token_server):
    out = cli(lattice_bin, server, "ui")
    assert out.stdout == server.url + "/\n" and out.stderr == ""
    doc = json.loads(cli(lattice_bin, server, "ui", "--json").stdout)
    assert doc == {"url": server.url + "/", "token_required": False}
    assert cli(lattice_bin, server, "ui", "--with-token").stdout == server.url + "/\n"  # no token needed

    out = cli(lattice_bin, token_server, "ui")
    assert out.stdout == token_server.url + "/\n"
    assert token_server.token not in out.stdout + out.stderr
    assert str(token_server.home / "token") in out.stderr
    out = cli(lattice_bin, token_server, "ui", "--with-token")
    assert out.stdout == f"{token_server.url}/#token={token_server.token}\n"
    doc = json.loads(cli(lattice_bin, token_server, "ui", "--json", "--with-token").stdout)
    assert doc == {"url": f"{token_server.url}/#token={token_server.token}", "token_required": True}
    # The fragment is the browser's: the page itself is served without it.
    assert call(token_server, "GET", "/").status == 200
    assert token_server.token not in (token_server.home / "server.log").read_text()


def test_lattice_ui_starts_the_local_server(lattice_bin, tmp_path):
    home = tmp_path / "home"
    env = lattice_env(home)
    try:
        out = subprocess.run([str(lattice_bin), "--home", str(home), "ui"], capture_output=True, text=True,
                             timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        info = json.loads((home / "server.json").read_text())
        assert out.stdout == info["url"] + "/\n"
    finally:
        subprocess.run([str(lattice_bin), "--home", str(home), "server", "stop"], capture_output=True, timeout=120,
                       env=env)


# --------------------------------------------------------------------------
# The API the UI uses

def test_runs_are_paged_filtered_searched_and_counted(lattice_servers, lattice_bin, code_dir):
    s = lattice_servers()  # no agent: runs stay queued unless cancelled
    first = submit(lattice_bin, s, code_dir, "hello.sh", name="page-00")
    snapshot = api(s, "GET", f"/runs/{first}").json["snapshot"]
    names = [first]
    for i in range(1, 30):
        body = {"name": f"page-{i:02d}", "script": "hello.sh" if i % 2 else "eval.sh", "snapshot": snapshot,
                "description": "The Needle" if i in (7, 21) else f"run {i}"}
        names.append(api(s, "POST", "/runs", body, expect=201).json["name"])
    for i in (3, 4, 5):
        api(s, "POST", f"/runs/page-{i:02d}/cancel")

    everything = api(s, "GET", "/runs").json
    assert [r["name"] for r in everything["runs"]] == names and everything["total"] == 30
    page = api(s, "GET", "/runs?limit=10&offset=10").json
    assert [r["name"] for r in page["runs"]] == names[10:20] and page["total"] == 30
    last = api(s, "GET", "/runs?limit=10&offset=25").json
    assert [r["name"] for r in last["runs"]] == names[25:] and last["total"] == 30
    newest = api(s, "GET", "/runs?limit=3&order=newest").json
    assert [r["name"] for r in newest["runs"]] == ["page-29", "page-28", "page-27"]
    cancelled = api(s, "GET", "/runs?state=cancelled").json
    assert [r["name"] for r in cancelled["runs"]] == ["page-03", "page-04", "page-05"] and cancelled["total"] == 3
    both = api(s, "GET", "/runs?state=queued,cancelled&limit=5").json
    assert both["total"] == 30 and len(both["runs"]) == 5
    assert api(s, "GET", "/runs?state=running,succeeded").json == {"runs": [], "total": 0}
    needle = api(s, "GET", "/runs?q=nEEdle").json
    assert [r["name"] for r in needle["runs"]] == ["page-07", "page-21"] and needle["total"] == 2
    by_script = api(s, "GET", "/runs?q=EVAL.SH&state=cancelled").json
    assert [r["name"] for r in by_script["runs"]] == ["page-04"]
    assert api(s, "GET", "/runs?q=page-1&order=newest&limit=2").json["runs"][0]["name"] == "page-19"
    row = everything["runs"][1]
    assert row["gpus"] == 0 and row["cluster"] == "local" and row["started_at"] == "" and row["ended_at"] == ""
    for query, field in (("limit=0", "limit"), ("limit=10001", "limit"), ("offset=-1", "offset"),
                         ("order=sideways", "order"), ("state=finished", "state")):
        err = api(s, "GET", f"/runs?{query}", expect=400).json["error"]
        assert err["code"] == "invalid_argument" and err["field"] == field, (query, err)


def test_events_with_initial_0_only_send_changes(server, agent, lattice_bin, code_dir):
    submit(lattice_bin, server, code_dir, "hello.sh", name="before-events")
    wait_experiment(server, "before-events", "succeeded")  # it changes no more
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", "/api/v1/events?initial=0")
        resp = conn.getresponse()
        assert resp.status == 200
        submit(lattice_bin, server, code_dir, "hello.sh", name="after-events")
        names = []
        while "after-events" not in names:
            line = resp.readline().decode()
            assert line, "the stream ended"
            if line.startswith("data: "):
                names.append(json.loads(line[6:])["name"])
        assert "before-events" not in names, names
    finally:
        conn.close()
    err = api(server, "GET", "/events?initial=no", expect=400).json["error"]
    assert err["field"] == "initial"


def test_attempts_of_finished_runs_say_how_they_ended(server, agent, lattice_bin, code_dir):
    ok = submit(lattice_bin, server, code_dir, "hello.sh", name="attempt-ok")
    bad = submit(lattice_bin, server, code_dir, "fail.sh", name="attempt-bad")
    done = wait_experiment(server, ok, "succeeded")
    wait_experiment(server, bad, "failed")
    attempts = api(server, "GET", f"/runs/{ok}/experiments/0/attempts").json["attempts"]
    assert len(attempts) == 1
    a = attempts[0]
    assert a["number"] == 1 and a["state"] == "succeeded" and a["exit_code"] == 0
    assert a["node"] == agent.node_id == done["experiments"][0]["node"] and a["nodes"] == [agent.node_id]
    assert a["reason"] == "exited with code 0" and a["gpus"] == []
    assert a["started_at"] and a["ended_at"] and a["started_at"] <= a["ended_at"]
    b = api(server, "GET", f"/runs/{bad}/experiments/0/attempts").json["attempts"][0]
    assert b["state"] == "failed" and b["exit_code"] == 3 and b["reason"] == "exited with code 3"
    summary = next(r for r in api(server, "GET", "/runs").json["runs"] if r["name"] == ok)
    assert summary["started_at"] == a["started_at"] and summary["ended_at"] == a["ended_at"]
    assert api(server, "GET", f"/runs/{ok}/experiments/1/attempts", expect=404).json["error"]["code"] == "not_found"
    api(server, "GET", "/runs/no-such-run/experiments/0/attempts", expect=404)
    assert api(server, "GET", f"/runs/{ok}/experiments/x/attempts", expect=400).json["error"]["field"] == "experiment"


def test_nodes_show_what_runs_on_them(server, agent, lattice_bin, code_dir):
    name = submit(lattice_bin, server, code_dir, "wait.sh", name="node-work")
    wait_experiment(server, name, "running")
    node = next(n for n in api(server, "GET", "/nodes").json["nodes"] if n["id"] == agent.node_id)
    assert node["running"] == [{"run": name, "experiment": 0, "attempt": 1, "gpus": []}]
    api(server, "POST", f"/runs/{name}/cancel")
    wait_experiment(server, name, "cancelled")
    node = next(n for n in api(server, "GET", "/nodes").json["nodes"] if n["id"] == agent.node_id)
    assert all(w["run"] != name for w in node["running"])
    a = api(server, "GET", f"/runs/{name}/experiments/0/attempts").json["attempts"][0]
    assert a["state"] == "cancelled" and a["reason"] == "cancelled"


def test_rerun_copies_the_run_and_expands_new_args(server, agent, lattice_bin, code_dir):
    old = cli(lattice_bin, server, "run", "--name", "rerun-src", "--description", "the original",
              "--env", "API_KEY=very-secret", "--priority", "4", code_dir / "hello.sh", "--lr", "0.5").stdout.strip()
    wait_experiment(server, old, "succeeded")
    doc = api(server, "POST", f"/runs/{old}/rerun", {"args": ["--lr", "[0.1, 0.2, 0.3]"], "name": "rerun-sweep"},
              expect=201).json
    assert doc["name"] == "rerun-sweep" and doc["description"] == "the original" and doc["priority"] == 4
    assert doc["env_names"] == ["API_KEY"] and "very-secret" not in json.dumps(doc)
    assert [e["args"] for e in doc["experiments"]] == [["--lr", "0.1"], ["--lr", "0.2"], ["--lr", "0.3"]]
    assert doc["sweep"]["parameters"] == ["lr"]
    wait_for(lambda: api(server, "GET", "/runs/rerun-sweep").json["state"] == "succeeded", 60, "the sweep")
    log = api(server, "GET", "/runs/rerun-sweep/experiments/2/logs").body
    assert log == b"hello --lr 0.3\n"
    again = api(server, "POST", f"/runs/{old}/rerun", {"description": "plain"}, expect=201).json
    assert again["args"] == ["--lr", "0.5"] and again["description"] == "plain" and len(again["experiments"]) == 1

    err = api(server, "POST", f"/runs/{old}/rerun", {"args": ["--lr", "[0.1,"]}, expect=400).json["error"]
    assert err["field"] == "args" and "argument 2" in err["message"]
    assert api(server, "POST", "/runs/no-such-run/rerun", {}, expect=404).json["error"]["code"] == "not_found"
    err = api(server, "POST", f"/runs/{old}/rerun", {"name": "rerun-sweep"}, expect=409).json["error"]
    assert err["code"] == "already_exists" and err["field"] == "name"


def test_rerun_that_no_node_could_hold_409(lattice_servers, lattice_agents, lattice_bin, code_dir):
    s = lattice_servers()
    a = lattice_agents(s, "--simulate-gpus", "1")
    name = cli(lattice_bin, s, "run", "--name", "one-gpu", "--gpus", "1", code_dir / "hello.sh").stdout.strip()
    wait_experiment(s, name, "succeeded")
    a.proc.terminate()  # the only node with a GPU goes away
    a.proc.wait(timeout=40)
    wait_for(lambda: all(n["state"] == "lost" for n in api(s, "GET", "/nodes").json["nodes"]), 30, "node lost")
    lattice_agents(s)  # a node without GPUs
    err = api(s, "POST", f"/runs/{name}/rerun", {}, expect=409).json["error"]
    assert err["code"] == "failed_precondition" and err["field"] == "resources"


def test_a_lost_attempt_says_why(lattice_servers, lattice_agents, lattice_bin, code_dir):
    s = lattice_servers("--node-timeout", "2s")
    a = lattice_agents(s)
    node = a.node_id
    name = submit(lattice_bin, s, code_dir, "wait.sh", name="gets-lost")
    wait_experiment(s, name, "running")
    a.proc.kill()  # no goodbye: the server hears nothing more
    a.proc.wait(timeout=10)
    wait_experiment(s, name, "failed", timeout=30)
    attempts = api(s, "GET", f"/runs/{name}/experiments/0/attempts").json["attempts"]
    assert len(attempts) == 1
    lost = attempts[0]
    assert lost["state"] == "lost" and lost["exit_code"] is None and lost["node"] == node
    assert lost["reason"] == f"lost: node {node} stopped responding", lost
    assert lost["ended_at"] >= lost["started_at"]
    nodes = api(s, "GET", "/nodes").json["nodes"]
    assert nodes[0]["state"] == "lost" and nodes[0]["running"] == []
    # The reason is stored with the attempt: a restarted server still says it.
    s.proc.terminate()
    s.proc.wait(timeout=30)
    again = lattice_servers("--node-timeout", "2s", home=s.home)
    after = api(again, "GET", f"/runs/{name}/experiments/0/attempts").json["attempts"]
    assert after == attempts
