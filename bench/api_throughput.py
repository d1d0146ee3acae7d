#!/usr/bin/env python3
"""API throughput: GET /api/v1/runs/{name} on loopback with keep-alive.

wrk (-t1 -c32 -d10s) drives our server's run document and, in the same run,
a bare single-threaded Beast coroutine server answering a constant document
of about the same size (bench/bare_beast_server.cpp, the least any Beast
server does). Rounds alternate between the two so both see the same load;
the figures are the medians of the rounds. Target: >= 50,000 requests/s;
the ratio to the bare server is our own overhead. Standard library only.
"""

import argparse
import http.client
import os
import re
import shutil
import subprocess

import benchlib
from benchlib import REPO, BenchError, Lattice, median, verdict

TARGET_RPS = 50_000.0


def wrk(url, threads, conns, seconds, headers=()):
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s"]
    for h in headers:
        argv += ["-H", h]
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0:
        raise BenchError(f"wrk exited {r.returncode}: {r.stderr.strip()[:300]}")
    out = r.stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        raise BenchError(f"cannot find Requests/sec in wrk's output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad:
        raise BenchError(f"{url} answered {bad.group(1)} non-2xx responses under load:\n{out}")
    errors = re.search(r"Socket errors:.*", out)
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    return float(m.group(1)), (errors.group(0) if errors else ""), (lat.group(1) if lat else "?")


def start_bare(binary):
    p = subprocess.Popen([binary, "0"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().split()
    if len(line) != 2 or line[0] != "listening":
        p.kill()
        p.wait()
        raise BenchError(f"{binary} did not print 'listening PORT' (got {' '.join(line)!r})")
    return p, int(line[1])


def get_size(host, port, path, headers):
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request("GET", path, headers=dict(h.split(": ", 1) for h in headers))
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise BenchError(f"GET {path} on port {port} answered {r.status}: {body[:300]!r}")
        return len(body)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--bare", default=os.environ.get("BARE_BEAST_SERVER",
                                                     str(REPO / "build" / "bench" / "bare_beast_server")),
                    help="the bare server binary (default: $BARE_BEAST_SERVER, else build/bench/bare_beast_server)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10; --smoke: 1)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of both servers (default 3; --smoke: 1)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        a.duration = 1 if a.duration == 10 else a.duration
        a.rounds = 1 if a.rounds == 3 else a.rounds
    if a.rounds < 1 or a.duration < 1:
        raise BenchError("--rounds and --duration must be at least 1")
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (scripts/install-deps.sh installs it)")
    if not os.access(a.bare, os.X_OK):
        raise BenchError(f"no bare server at {a.bare}; build it: cmake --build build --target bare_beast_server")

    print(benchlib.machine_line())
    bare_proc = None
    ours, bare = [], []
    with Lattice(a.lattice, a.home) as lat:
        try:
            bare_proc, bare_port = start_bare(a.bare)
            lat.start()
            name = lat.submit(str(lat.write_script("hello.sh", "echo hello\n")))
            lat.wait_terminal(name)
            headers = [f"Authorization: Bearer {lat.token}"] if lat.token else []
            ours_path = f"/api/v1/runs/{name}"
            ours_url = f"http://127.0.0.1:{lat.port}{ours_path}"
            bare_url = f"http://127.0.0.1:{bare_port}/api/v1/runs/bench"
            ours_size = get_size("127.0.0.1", lat.port, ours_path, headers)
            bare_size = get_size("127.0.0.1", bare_port, "/api/v1/runs/bench", [])
            for r in range(a.rounds):
                rps, err, latency = wrk(bare_url, a.threads, a.connections, a.duration)
                bare.append(rps)
                print(f"  round {r + 1}: bare   {rps:10.0f} requests/s (mean latency {latency}) {err}")
                rps, err, latency = wrk(ours_url, a.threads, a.connections, a.duration, headers)
                ours.append(rps)
                print(f"  round {r + 1}: ours   {rps:10.0f} requests/s (mean latency {latency}) {err}")
        finally:
            if bare_proc is not None:
                bare_proc.terminate()
                try:
                    bare_proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    bare_proc.kill()
                    bare_proc.wait()

    o, b = median(ours), median(bare)
    print(f"GET /api/v1/runs/NAME, wrk -t{a.threads} -c{a.connections} -d{a.duration}s, keep-alive, loopback, "
          f"median of {a.rounds} round(s)")
    print(f"  {'bare Beast server (constant ' + str(bare_size) + ' B document)':<52} {b:10.0f} requests/s")
    print(f"  {'lattice server (run document, ' + str(ours_size) + ' B)':<52} {o:10.0f} requests/s")
    print(f"  ratio, lattice / bare: {o / b:.2f}x")
    v = verdict(o, ">=", TARGET_RPS)
    print(f"target: >= {TARGET_RPS:,.0f} requests/s: {o:,.0f} {v}")
    if a.smoke:
        if not benchlib.finite_positive(o, b):
            raise BenchError("smoke: the figures are not positive finite numbers")
        return 0
    return 3 if a.strict and v == "FAIL" else 0


if __name__ == "__main__":
    benchlib.main_wrapper(main)
