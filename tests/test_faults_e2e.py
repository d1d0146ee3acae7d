"""Faults and hostile input against the real server and agent: restarts,
kills, bad requests, and the token beyond loopback."""
import http.client
import json
import os
import signal
import stat
import time

from harness import Lattice, lattice, pid_alive, script_dir, wait_for, write_script  # noqa: F401

COUNTER = ("import time\n"
           "for i in range({n}):\n"
           "    print(f'line {{i:05d}}', flush=True)\n"
           "    time.sleep({delay})\n")


def request(url, method, path, body=None, headers=None):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_server_killed_mid_run_restarts_and_logs_stay_complete(lattice, script_dir):
    script = write_script(script_dir, "count.py", COUNTER.format(n=300, delay=0.01))
    name = lattice.run("run", script).stdout.strip()
    wait_for(lambda: "line 00020" in lattice.run("logs", name).stdout, what="some output")
    follower = lattice.popen("logs", name, "--follow", stderr=open(os.devnull, "w"))
    os.kill(lattice.server_info()["pid"], signal.SIGKILL)
    time.sleep(0.5)  # the run goes on without the server
    lattice.run("server", "start")
    lattice.wait_state(name, "succeeded", timeout=60)
    out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0
    expected = "".join(f"line {i:05d}\n" for i in range(300))
    assert out.decode() == expected
    assert lattice.run("logs", name).stdout == expected


def test_agent_killed_mid_run_attempt_lost_and_processes_gone(lattice, script_dir):
    script = write_script(script_dir, "hang.sh", "sleep 300 &\necho \"pids $$ $!\"\nwait\n")
    name = lattice.run("run", script).stdout.strip()
    out = wait_for(lambda: lattice.run("logs", name).stdout, what="pid line")
    pids = [int(p) for p in out.split()[1:3]]
    killed_at = time.monotonic()
    os.kill(lattice.agent_pid(), signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10, what="user processes to die")
    doc = lattice.wait_state(name, "failed", timeout=15)
    assert time.monotonic() - killed_at <= 10.5
    exp = doc["experiments"][0]
    assert exp["state"] == "failed" and "max-restarts is 0" in exp["reason"]
    nodes = lattice.json("nodes")["nodes"]
    assert nodes[0]["state"] == "lost"


def test_agent_lost_with_max_restarts_requeues_on_a_new_agent(lattice, script_dir):
    script = write_script(script_dir, "attempt.sh", (
        "echo \"attempt $LATTICE_ATTEMPT\"\n"
        "if [ \"$LATTICE_ATTEMPT\" = 1 ]; then sleep 300; fi\n"))
    name = lattice.run("run", "--max-restarts", "1", script).stdout.strip()
    wait_for(lambda: "attempt 1" in lattice.run("logs", name).stdout, what="first attempt")
    os.kill(lattice.agent_pid(), signal.SIGKILL)
    wait_for(lambda: lattice.json("status", name)["experiments"][0]["state"] == "queued", timeout=15,
             what="requeue")
    url = lattice.server_info()["url"]
    agent = lattice.popen("--server", url, "agent", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    try:
        doc = lattice.wait_state(name, "succeeded", timeout=30)
        exp = doc["experiments"][0]
        assert exp["attempts"] == 2 and exp["restarts"] == 1
        assert lattice.run("logs", name).stdout == "attempt 2\n"
        assert lattice.run("logs", name, "--attempt", "1").stdout == "attempt 1\n"
    finally:
        agent.terminate()
        agent.wait(30)


def test_bad_requests_get_specific_4xx_and_server_keeps_serving(lattice, script_dir):
    lattice.run("server", "start")
    url = lattice.server_info()["url"]
    status, body = request(url, "POST", "/api/v1/runs", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]["message"]
    status, body = request(url, "POST", "/api/v1/runs", json.dumps({"script": "x", "snapshot": "0" * 64,
                                                                    "colour": "red"}))
    err = json.loads(body)["error"]
    assert status == 400 and err["field"] == "colour" and "unknown field" in err["message"]
    status, body = request(url, "POST", "/api/v1/runs", json.dumps({"script": "x", "snapshot": "0" * 64,
                                                                    "resources": {"gpus": "two"}}))
    err = json.loads(body)["error"]
    assert status == 400 and err["field"] == "resources.gpus"
    status, body = request(url, "POST", "/api/v1/runs", json.dumps({"snapshot": "0" * 64}))
    assert status == 400 and json.loads(body)["error"]["field"] == "script"
    status, body = request(url, "POST", "/api/v1/runs", b"[" * 2_000_000)
    assert status == 413 and json.loads(body)["error"]["code"] == "resource_exhausted"
    status, body = request(url, "GET", "/api/v1/runs/none")
    assert status == 404
    status, body = request(url, "DELETE", "/api/v1/runs")
    assert status == 400 and "not allowed" in json.loads(body)["error"]["message"]
    # Still serving.
    status, body = request(url, "GET", "/api/v1/health")
    assert status == 200
    script = write_script(script_dir, "ok.sh", "echo ok\n")
    assert lattice.run("run", "--follow", script).stdout == "ok\n"


def test_beyond_loopback_the_token_is_required(tmp_path, script_dir):
    lat = Lattice(tmp_path / "home")
    server = lat.popen("server", "--host", "0.0.0.0", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    try:
        info = wait_for(lambda: (lat.home / "server.json").exists() and lat.server_info(), what="server.json")
        assert info["token_required"] is True
        token_file = lat.home / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        url = f"http://127.0.0.1:{info['port']}"
        status, body = request(url, "GET", "/api/v1/runs")
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
        status, _ = request(url, "GET", "/api/v1/runs", headers={"Authorization": "Bearer " + "0" * len(token)})
        assert status == 401
        status, _ = request(url, "GET", "/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        # CLI and agent read the token from LATTICE_HOME and work.
        agent = lat.popen("--server", url, "agent", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
        try:
            script = write_script(script_dir, "ok.sh", "echo ok\n")
            assert lat.run("--server", url, "run", "--follow", script).stdout == "ok\n"
        finally:
            agent.terminate()
            agent.wait(30)
        # The token is not in any process listing.
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    assert token not in open(f"/proc/{pid}/cmdline").read()
                except OSError:
                    pass
    finally:
        server.terminate()
        server.wait(30)


def test_output_of_user_processes_is_data(lattice, script_dir):
    # Escapes, NUL bytes, invalid UTF-8 and lines that look like protocol pass through untouched.
    script = write_script(script_dir, "weird.py", (
        "import sys\n"
        "sys.stdout.buffer.write(b'\\x1b[31mred\\x1b[0m\\n\\x00nul\\n\\xff\\xfe bad utf8\\n"
        "HTTP/1.1 200 OK\\r\\n\\r\\n{\"error\": 1}\\nno newline at end')\n"))
    name = lattice.run("run", script).stdout.strip()
    lattice.wait_state(name, "succeeded")
    raw = lattice.popen("logs", name).communicate(timeout=30)[0]
    assert raw == (b"\x1b[31mred\x1b[0m\n\x00nul\n\xff\xfe bad utf8\nHTTP/1.1 200 OK\r\n\r\n"
                   b"{\"error\": 1}\nno newline at end")
