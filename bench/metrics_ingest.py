#!/usr/bin/env python3
"""Metrics ingest into a real server, and reading a long series back downsampled.

Starts a local server and agent (`lattice server start` under a private
LATTICE_HOME) and submits a run whose script sleeps, so that an attempt exists
on the agent's node; then this process acts as that agent and PUTs metric
points to /api/v1/agents/{node}/attempts/{attempt}/points?offset=N as the
agent ships them: binary LTP1 frames (magic "LTP1", uint32 payload length;
payload: uint32 series count, then per series uint16 key length, key, uint32
point count and count x (int64 step, float64 time, float64 value), all
little-endian), whole frames in bodies of up to 4 MiB, over one keep-alive
connection, each offset the previous plus the body's length. The bodies are
built beforehand (numpy), so the time is the server's: decoding, appending to
the metrics store and fsync before it answers {"length": N}.

1. Ingest: --points (default 5,000,000; --smoke 200,000) over --keys keys
   (default 10), --body-points points per body (default 100,000, ~2.4 MB) in
   frames of --frame-points points (default 10,000). Reports points/s and the
   server process's CPU time over the same interval (utime + stime from
   /proc/PID/stat, all threads), to show what share of one core it took.
   Target: >= 1,000,000 points/s on one core.
   Peer, same run: MLflow (mlflow-skinny, this interpreter), a local SQLite
   tracking store (`sqlite:///.../mlflow.db`), MlflowClient().log_batch() of
   1,000 metrics (its limit per call) over the same keys, --mlflow-points in
   all (default 50,000; --smoke 2,000: it is ~100x slower, so fewer points),
   compared as points/s.
2. Downsampling: --series-points (default 1,000,000; --smoke 100,000) points
   of one key into the same experiment, then GET
   /api/v1/runs/{run}/metrics/series?key=K&max_points=1000 with method=minmax
   and method=lttb, --reads times each (default 21; --smoke 5) over loopback;
   the median includes HTTP and JSON, so it bounds the server-side time from
   above. The answer must hold <= 1,000 points including the series' global
   minimum and maximum (minmax). Target: <= 20 ms.
"""

import argparse
import http.client
import json
import os
import shutil
import struct
import sys
import tempfile
import time

import benchlib
from benchlib import BenchError, Lattice, median, verdict

TARGET_RATE = 1_000_000
TARGET_READ_MS = 20.0
MAX_BODY = 4 << 20  # the agent ships its spool in chunks of up to 4 MiB of whole frames


def numpy_or_fail():
    try:
        import numpy
    except ImportError as e:
        raise BenchError(f"numpy is needed to build the bodies ({e}); run with .venv/bin/python") from e
    return numpy


def encode_frame(np, series):
    """series: [(key, ndarray of POINT)] -> one LTP1 frame."""
    parts = [struct.pack("<I", len(series))]
    for key, pts in series:
        k = key.encode()
        parts.append(struct.pack("<H", len(k)))
        parts.append(k)
        parts.append(struct.pack("<I", len(pts)))
        parts.append(pts.tobytes())
    payload = b"".join(parts)
    return b"LTP1" + struct.pack("<I", len(payload)) + payload


def make_bodies(np, keys, total, body_points, frame_points, seed, first_step=0):
    """Bodies of whole frames: each frame holds frame_points points spread over keys; steps increase per key."""
    point = np.dtype([("step", "<i8"), ("time", "<f8"), ("value", "<f8")])
    rng = np.random.default_rng(seed)
    per_key_frame = max(1, frame_points // len(keys))
    frames_per_body = max(1, body_points // (per_key_frame * len(keys)))
    bodies, sent, step = [], 0, first_step
    while sent < total:
        frames = []
        for _ in range(frames_per_body):
            n = min(per_key_frame, (total - sent) // len(keys))
            if n <= 0:
                break
            series = []
            steps = np.arange(step, step + n, dtype=np.int64)
            for j, key in enumerate(keys):
                pts = np.empty(n, dtype=point)
                pts["step"] = steps
                pts["time"] = 1.7e9 + steps * 0.01
                pts["value"] = np.sin(steps * 1e-4 + j) + rng.normal(0.0, 0.05, n)
                series.append((key, pts))
            frames.append(encode_frame(np, series))
            step += n
            sent += n * len(keys)
        if not frames:
            break
        body = b"".join(frames)
        if len(body) > MAX_BODY:
            raise BenchError(f"a body of {len(body)} bytes is over the agent's 4 MiB; lower --body-points")
        bodies.append(body)
    return bodies, sent


def series_values(np, body_list):
    """(min, max) of every value in LTP1 bodies of one key (to check the downsampled answer)."""
    point = np.dtype([("step", "<i8"), ("time", "<f8"), ("value", "<f8")])
    lo, hi = float("inf"), float("-inf")
    for body in body_list:
        pos = 0
        while pos < len(body):
            length = struct.unpack_from("<I", body, pos + 4)[0]
            p = pos + 8
            nseries = struct.unpack_from("<I", body, p)[0]
            p += 4
            for _ in range(nseries):
                klen = struct.unpack_from("<H", body, p)[0]
                p += 2 + klen
                count = struct.unpack_from("<I", body, p)[0]
                p += 4
                v = np.frombuffer(body, dtype=point, count=count, offset=p)["value"]
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                p += count * point.itemsize
            pos += 8 + length
    return lo, hi


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Agent:
    """Sends points as the agent of one node would, over one keep-alive connection."""

    def __init__(self, lat, node, attempt):
        self.conn = http.client.HTTPConnection(lat.host, lat.port, timeout=120)
        self.path = f"/api/v1/agents/{node}/attempts/{attempt}/points"
        self.headers = {"Content-Type": "application/octet-stream"}
        if lat.token:
            self.headers["Authorization"] = f"Bearer {lat.token}"
        self.offset = 0

    def put(self, body):
        self.conn.request("PUT", f"{self.path}?offset={self.offset}", body=body, headers=self.headers)
        resp = self.conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            raise BenchError(f"PUT points at offset {self.offset} answered {resp.status}: {answer[:300]!r}")
        length = json.loads(answer)["length"]
        if length != self.offset + len(body):
            raise BenchError(f"the server holds {length} bytes, expected {self.offset + len(body)}")
        self.offset = length

    def close(self):
        self.conn.close()


def find_attempt(lat, run, timeout=60.0):
    """(node id, attempt id) of the run's experiment 0, from the line its script prints first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = lat.run_doc(run)["experiments"][0]
        if exp["state"] in ("succeeded", "failed", "cancelled"):
            raise BenchError(f"run {run} ended ({exp['state']}) before the benchmark could use it")
        if exp["state"] == "running" and exp.get("node"):
            status, _, body = lat.request(f"/runs/{run}/experiments/0/logs?offset=0")
            for line in body.decode(errors="replace").splitlines() if status == 200 else []:
                if line.startswith("attempt=") and line[8:].isdigit():
                    return exp["node"], int(line[8:])
        time.sleep(0.05)
    raise BenchError(f"run {run} did not start and print its attempt within {timeout:.0f} s")


def mlflow_peer(np, keys, total, work):
    try:
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError as e:
        raise BenchError(f"mlflow is not installed in this interpreter ({e}); pip install mlflow-skinny") from e
    uri = f"sqlite:///{work}/mlflow.db"
    # Creating the store runs its schema migrations, which log a page of INFO
    # lines: keep them (file descriptor 2) aside unless the set-up fails.
    sys.stderr.flush()
    saved, aside = os.dup(2), tempfile.TemporaryFile()
    os.dup2(aside.fileno(), 2)
    try:
        client = MlflowClient(tracking_uri=uri)
        exp = client.create_experiment("ingest-bench", artifact_location=f"file://{work}/mlruns")
        run_id = client.create_run(exp).info.run_id
    except Exception:
        os.dup2(saved, 2)
        aside.seek(0)
        sys.stderr.write(aside.read().decode(errors="replace")[-3000:])
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        aside.close()
    rng = np.random.default_rng(7)
    per_key = total // len(keys)
    now = int(time.time() * 1000)
    metrics = []
    for step in range(per_key):
        for j, key in enumerate(keys):
            metrics.append(Metric(key, float(np.sin(step * 1e-4 + j) + rng.normal(0.0, 0.05)), now + step, step))
    batches = [metrics[i:i + 1000] for i in range(0, len(metrics), 1000)]
    t0 = time.perf_counter()
    for b in batches:
        client.log_batch(run_id, metrics=b)
    seconds = time.perf_counter() - t0
    got = sum(len(client.get_metric_history(run_id, k)) for k in keys[:1]) * len(keys)
    if got != len(metrics):
        raise BenchError(f"MLflow holds {got} points of {len(metrics)} logged")
    return len(metrics), seconds


def read_series(lat, run, key, method, max_points, reads):
    path = f"/runs/{run}/metrics/series?key={key}&max_points={max_points}&method={method}&experiments=0"
    times, doc = [], None
    for _ in range(reads):
        t0 = time.perf_counter()
        status, _, body = lat.request(path)
        doc = json.loads(body)
        times.append((time.perf_counter() - t0) * 1e3)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    return times, doc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--points", type=int, default=None, help="points to ingest (default 5,000,000; --smoke 200,000)")
    ap.add_argument("--keys", type=int, default=10, help="metric keys (default 10)")
    ap.add_argument("--body-points", type=int, default=100_000, help="points per PUT body (default 100,000)")
    ap.add_argument("--frame-points", type=int, default=10_000, help="points per LTP1 frame (default 10,000)")
    ap.add_argument("--mlflow-points", type=int, default=None, help="points for MLflow (default 50,000; --smoke 2,000)")
    ap.add_argument("--series-points", type=int, default=None,
                    help="points of the one long series (default 1,000,000; --smoke 100,000)")
    ap.add_argument("--reads", type=int, default=None, help="series reads per method (default 21; --smoke 5)")
    ap.add_argument("--skip-mlflow", action="store_true", help="leave the MLflow peer out")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    np = numpy_or_fail()
    total = a.points or (200_000 if a.smoke else 5_000_000)
    mlflow_total = a.mlflow_points or (2_000 if a.smoke else 50_000)
    series_total = a.series_points or (100_000 if a.smoke else 1_000_000)
    reads = a.reads or (5 if a.smoke else 21)
    keys = [f"train/metric_{k}" for k in range(a.keys)]
    long_key = "train/long_series"
    print(benchlib.machine_line())

    bodies, total = make_bodies(np, keys, total, a.body_points, a.frame_points, seed=1)
    long_bodies, series_total = make_bodies(np, [long_key], series_total, a.body_points, a.frame_points, seed=2)
    long_min, long_max = series_values(np, long_bodies)
    body_bytes = sum(map(len, bodies))

    work = tempfile.mkdtemp(prefix="lattice-bench-ingest-")
    try:
        with Lattice(a.lattice, a.home) as lat:
            lat.start()
            # The agent keeps each attempt in <agent home>/attempts/<attempt id>/,
            # where LATTICE_METRICS_FILE points.
            sleeper = lat.write_script("sleeper.sh", '#!/bin/sh\n'
                                       'echo "attempt=$(basename "$(dirname "$LATTICE_METRICS_FILE")")"\n'
                                       'exec sleep 3600\n')
            run = lat.submit(sleeper)
            try:
                node, attempt = find_attempt(lat, run)
                agent = Agent(lat, node, attempt)
                try:
                    cpu0, t0 = proc_cpu_seconds(lat.server_pid), time.perf_counter()
                    for body in bodies:
                        agent.put(body)
                    seconds = time.perf_counter() - t0
                    server_cpu = proc_cpu_seconds(lat.server_pid) - cpu0
                    load_ingest = open("/proc/loadavg").read().split()[0]
                    for body in long_bodies:
                        agent.put(body)
                finally:
                    agent.close()
                summary = json.loads(lat.request(f"/runs/{run}/metrics?experiment=0")[2])
                held = summary["experiments"][0]["metrics"]
                for k in keys:
                    if held.get(k, {}).get("count") != total // len(keys):
                        raise BenchError(f"the server holds {held.get(k, {}).get('count')} points of {k}, "
                                         f"expected {total // len(keys)}")
                reads_by_method = {}
                for method in ("minmax", "lttb"):
                    read_series(lat, run, long_key, method, 1000, 2)  # warm: the series' file in the page cache
                    times, doc = read_series(lat, run, long_key, method, 1000, reads)
                    s = doc["series"][0]
                    if s["total"] != series_total:
                        raise BenchError(f"series total {s['total']}, expected {series_total}")
                    n = len(s["values"])
                    if not 0 < n <= 1000:
                        raise BenchError(f"{method}: {n} points returned for max_points=1000")
                    extremes = min(s["values"]) == long_min and max(s["values"]) == long_max
                    if method == "minmax" and not extremes:
                        raise BenchError(f"minmax answer lost the extremes: {min(s['values'])}..{max(s['values'])}, "
                                         f"series {long_min}..{long_max}")
                    reads_by_method[method] = (times, n, extremes)
            finally:
                lat.cli("cancel", run, check=False)

        mlflow = None
        if not a.skip_mlflow:
            load_mlflow = open("/proc/loadavg").read().split()[0]
            mlflow = mlflow_peer(np, keys, mlflow_total, work) + (load_mlflow,)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rate = total / seconds
    print(f"ingest: {total:,} points, {len(keys)} keys, {len(bodies)} PUTs of ~{a.body_points:,} points "
          f"({body_bytes / len(bodies) / 1e6:.2f} MB) in frames of {a.frame_points:,}, fsync per PUT")
    print(f"  ours: lattice server, agent points endpoint   {seconds:8.3f} s  {rate:12,.0f} points/s  "
          f"{body_bytes / seconds / 1e6:7.1f} MB/s  (load {load_ingest})")
    print(f"  server CPU time over the ingest: {server_cpu:.3f} s = {server_cpu / seconds:.2f} of one core")
    targets = [f">= 1,000,000 points/s: {rate:,.0f} {verdict(rate, '>=', TARGET_RATE)}"]
    if mlflow:
        m_points, m_seconds, m_load = mlflow
        m_rate = m_points / m_seconds
        print(f"  peer: MLflow log_batch(1,000) into SQLite    {m_seconds:8.3f} s  {m_rate:12,.0f} points/s  "
              f"({m_points:,} points, load {m_load})")
        print(f"  ratio, ours / MLflow: {rate / m_rate:.0f}x")
    print(f"series read: one key of {series_total:,} points to max_points=1000, {reads} GETs each "
          f"(loopback HTTP + JSON, so an upper bound of the server-side time)")
    for method, (times, n, extremes) in reads_by_method.items():
        print(f"  {method:<6} median {median(times):7.2f} ms  min {min(times):6.2f}  max {max(times):6.2f}  "
              f"{n} points, global min and max {'kept' if extremes else 'not both kept'}")
    read_ms = median(reads_by_method["minmax"][0])
    targets.append(f"read 1M -> 1,000 (minmax) <= {TARGET_READ_MS:.0f} ms: {read_ms:.2f} "
                   f"{verdict(read_ms, '<=', TARGET_READ_MS)}")
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
