"""Server-sent event streams: run state changes and live logs."""
import http.client
import json

from harness import lattice, script_dir, write_script  # noqa: F401


def read_events(url, path, stop_after=None, timeout=30):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
    events, kind, data = [], None, []
    for raw in resp:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and kind:
            events.append((kind, json.loads("\n".join(data))))
            kind, data = None, []
            if stop_after and stop_after(events):
                break
    conn.close()
    return events


def test_log_stream_sends_every_byte_then_the_end(lattice, script_dir):
    script = write_script(script_dir, "three.sh", "for i in 1 2 3; do echo \"n $i\"; sleep 0.1; done\nexit 4\n")
    name = lattice.run("run", script).stdout.strip()
    url = lattice.server_info()["url"]
    events = read_events(url, f"/api/v1/runs/{name}/experiments/0/logs/stream")
    text = "".join(e["text"] for k, e in events if k == "log")
    assert text == "n 1\nn 2\nn 3\n"
    assert events[-1] == ("end", {"state": "failed", "exit_code": 4})


def test_event_stream_reports_state_changes(lattice, script_dir):
    lattice.run("server", "start")
    url = lattice.server_info()["url"]
    script = write_script(script_dir, "ok.sh", "sleep 0.3; echo ok\n")
    name = lattice.run("run", script).stdout.strip()
    events = read_events(url, f"/api/v1/events?run={name}",
                         stop_after=lambda ev: ev[-1][1]["state"] == "succeeded")
    states = [e["state"] for k, e in events if k == "run"]
    assert states[-1] == "succeeded"
    assert all(e["name"] == name for _, e in events)
