#!/usr/bin/env python3
"""The web UI in Debian's Chromium (playwright-core, web/e2e/bench.mjs)
against a real local server: how soon its pages are usable with a lot of
data, and how soon live output reaches the screen.

Starts a local server and agent under a private LATTICE_HOME, then:
1. Live log: a script prints `LATENCY <wall clock ms>` every 100 ms; its
   experiment page is open, and each line that appears is timed from the
   print to the painted frame that shows it (the browser and the script share
   this machine's clock). Target: median and p95 <= 500 ms.
2. Chart: a 5-experiment run of a sleeping script; this process, acting as
   the agent, PUTs --points points (default 1,000,000; --smoke 20,000) of
   `loss` into each experiment (the agent protocol's LTP1 frames, as
   bench/metrics_ingest.py). The run page's comparison chart asks the server
   for a downsampled series of each and draws 5 series; timed from the
   moment its JSON is parsed to uPlot's draw hook. Target: <= 200 ms.
3. Lists: the agent is stopped (so nothing runs), then runs are submitted
   through the API with the snapshot of the chart's run until the server
   holds --runs runs (default 10,000; --smoke 300; runs already there
   count), the last one of --experiments experiments (default 1,000;
   --smoke 100). The runs page and that run's page are loaded --repeats times;
   timed from navigation to the UI's "interactive" mark (its table shows
   rows and takes input). Both tables must be virtualised. Target: <= 1 s.

No peer is run: the figures are absolute, each against its target.

    .venv/bin/python bench/web_ui.py [--smoke] [--strict]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import time

import benchlib
from benchlib import BenchError, Lattice, median, percentile, verdict
from metrics_ingest import Agent, make_bodies, numpy_or_fail

REPO = benchlib.REPO
NODE_SCRIPT = REPO / "web" / "e2e" / "bench.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGET_LIST_MS = 1000.0
TARGET_DRAW_MS = 200.0
TARGET_LOG_MS = 500.0


def browser_phase(lat, phase, timeout, **env):
    """Runs one phase of bench.mjs; returns {figure: record}."""
    node = shutil.which("node")
    if not node:
        raise BenchError("node is missing (scripts/install-deps.sh)")
    full = dict(os.environ, BENCH_PHASE=phase, LATTICE_UI_URL=lat.url, LATTICE_TOKEN=lat.token, CHROMIUM=CHROMIUM,
                **{k: str(v) for k, v in env.items()})
    r = subprocess.run([node, str(NODE_SCRIPT)], env=full, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError(f"the browser phase {phase} failed: {r.stderr.strip()[-1500:]}")
    records = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            records[rec["figure"]] = rec
    return records


def post_json(lat, conn, path, doc):
    headers = {"Content-Type": "application/json"}
    if lat.token:
        headers["Authorization"] = f"Bearer {lat.token}"
    conn.request("POST", "/api/v1" + path, body=json.dumps(doc), headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status not in (200, 201):
        raise BenchError(f"POST {path} answered {resp.status}: {body[:300]!r}")
    return json.loads(body)


def attempts_of(lat, run, count, timeout=60.0):
    """(node, attempt id) of each of the run's first `count` experiments, from the line each prints."""
    found = {}
    deadline = time.monotonic() + timeout
    while len(found) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"only {len(found)} of {count} experiments of {run} started within {timeout:.0f} s")
        doc = lat.run_doc(run)
        for exp in doc["experiments"][:count]:
            i = int(exp["id"])
            if i in found or exp["state"] != "running" or not exp.get("node"):
                continue
            status, _, body = lat.request(f"/runs/{run}/experiments/{i}/logs?offset=0")
            for line in body.decode(errors="replace").splitlines() if status == 200 else []:
                if line.startswith("attempt=") and line[8:].isdigit():
                    found[i] = (exp["node"], int(line[8:]))
        time.sleep(0.05)
    return [found[i] for i in range(count)]


def stop_agent(lat, timeout=30.0):
    pid = lat.agent_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = json.loads(lat.request("/nodes")[2])["nodes"]
        if not any(n["state"] == "ready" for n in nodes):
            return
        time.sleep(0.05)
    raise BenchError("the agent's node stayed ready after SIGTERM")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(p)
    p.add_argument("--runs", type=int, default=None, help="runs in the list (default 10,000; --smoke 300)")
    p.add_argument("--experiments", type=int, default=None,
                   help="experiments of the big run (default 1,000; --smoke 100)")
    p.add_argument("--points", type=int, default=None,
                   help="points per chart series (default 1,000,000; --smoke 20,000)")
    p.add_argument("--repeats", type=int, default=None, help="page loads per figure (default 7; --smoke 2)")
    p.add_argument("--log-seconds", type=float, default=None, help="how long to watch the log (default 10; --smoke 3)")
    a = p.parse_args()
    benchlib.SMOKE = a.smoke
    runs = a.runs or (300 if a.smoke else 10_000)
    experiments = a.experiments or (100 if a.smoke else 1_000)
    points = a.points or (20_000 if a.smoke else 1_000_000)
    repeats = a.repeats or (2 if a.smoke else 7)
    log_seconds = a.log_seconds or (3.0 if a.smoke else 10.0)
    if not os.access(CHROMIUM, os.X_OK):
        raise BenchError(f"{CHROMIUM} is missing (scripts/install-deps.sh)")
    if not (REPO / "web" / "dist" / "index.html").exists():
        raise BenchError("web/dist is missing (scripts/build-web.sh)")
    np = numpy_or_fail()
    bodies, sent = make_bodies(np, ["loss"], points, 100_000, 10_000, seed=1)
    if sent != points:
        raise BenchError(f"built {sent} points, not {points}")

    print(benchlib.machine_line())
    with Lattice(a.lattice, a.home) as lat:
        lat.start()

        # 1. Live log.
        printer = lat.write_script("printer.py", "import time\n"
                                   f"end = time.time() + {log_seconds + 30}\n"
                                   "while time.time() < end:\n"
                                   "    print(f'LATENCY {time.time() * 1000:.0f}', flush=True)\n"
                                   "    time.sleep(0.1)\n")
        # First in the queue, whatever an earlier run under a shared --home left queued.
        log_run = lat.cli("run", "--priority", "1000000", str(printer)).stdout.split()[-1]
        logs = browser_phase(lat, "log", log_seconds + 90, LOG_RUN=log_run, LOG_SECONDS=log_seconds)
        lat.cli("cancel", log_run)

        # 2. Chart: 5 experiments x `points` points of loss.
        sleeper = lat.write_script("sleeper.sh", '#!/bin/sh\n'
                                   'echo "attempt=$(basename "$(dirname "$LATTICE_METRICS_FILE")")"\n'
                                   'exec sleep 3600\n')
        # A tenth of a CPU each, so that all five run at once on any machine.
        chart_run = lat.cli("run", "--priority", "1000000", "--cpus", "0.1", str(sleeper),
                            "--i", "[0, 1, 2, 3, 4]").stdout.split()[-1]
        for node, attempt in attempts_of(lat, chart_run, 5):
            agent = Agent(lat, node, attempt)
            try:
                for body in bodies:
                    agent.put(body)
            finally:
                agent.close()
        charts = browser_phase(lat, "chart", 300, CHART_RUN=chart_run, CHART_KEY="loss", CHART_SERIES=5,
                               BENCH_REPEATS=repeats)
        lat.cli("cancel", chart_run)

        # 3. Lists: nothing may run, so that the runs stay as submitted.
        stop_agent(lat)
        snapshot = lat.run_doc(chart_run)["snapshot"]
        # Runs already there (ours above, or earlier benchmarks' under a shared
        # --home) count towards the list's size, as does the big run.
        existing = json.loads(lat.request("/runs?limit=1")[2])["total"]
        seeds = max(0, runs - existing - 1)
        tag = os.urandom(3).hex()  # names that a shared --home has not seen
        conn = http.client.HTTPConnection(lat.host, lat.port, timeout=120)
        try:
            t0 = time.perf_counter()
            for i in range(seeds):
                post_json(lat, conn, "/runs", {"name": f"seed-{tag}-{i:05d}", "script": "sleeper.sh",
                                                "snapshot": snapshot, "args": ["--i", str(i)],
                                                "description": f"seeded run {i}"})
            seed_s = time.perf_counter() - t0
            big = post_json(lat, conn, "/runs", {
                "name": f"big-sweep-{tag}", "script": "sleeper.sh", "snapshot": snapshot,
                "sweep": {"strategy": "grid_search", "seed": 0, "trials": 0, "parameters": ["lr", "hidden"]},
                "experiments": [{"args": ["--lr", f"{0.001 * (i % 50 + 1):.3f}", "--hidden", str(32 * (i // 50 + 1))],
                                 "params": [f"{0.001 * (i % 50 + 1):.3f}", str(32 * (i // 50 + 1))]}
                                for i in range(experiments)]})
        finally:
            conn.close()
        listed = browser_phase(lat, "lists", 600, RUNS_TOTAL=existing + seeds + 1, BIG_RUN=big["name"],
                               BIG_EXPERIMENTS=experiments, BENCH_REPEATS=repeats)

    log_ms = logs["log_line_on_screen"]["ms"]
    draw_ms = charts["chart_draw_after_data"]["ms"]
    data_ms = charts["chart_data_after_navigation"]["ms"]
    runs_ms = listed["runs_list_interactive"]["ms"]
    run_ms = listed["run_page_interactive"]["ms"]
    listed_runs = existing + seeds + 1
    print(f"seeded {seeds} runs through the API in {seed_s:.1f} s ({seeds / max(seed_s, 1e-9):.0f} runs/s)")
    print(f"{'figure':58s} {'median':>9s} {'p95':>9s} {'n':>5s}")
    rows = [
        ("log line printed -> painted on the experiment page (ms)", log_ms),
        (f"chart of 5 x {points:,} points: data parsed -> drawn (ms)", draw_ms),
        ("  (navigation -> chart data parsed, ms)", data_ms),
        (f"runs list of {listed_runs:,} runs: navigation -> interactive (ms)", runs_ms),
        (f"run page of {experiments:,} experiments: navigation -> interactive (ms)", run_ms),
    ]
    for label, values in rows:
        print(f"{label:58s} {median(values):9.1f} {percentile(values, 95):9.1f} {len(values):5d}")
    print(f"rows in the DOM: runs list {listed['runs_list_interactive']['rows_in_dom']}, "
          f"run page {listed['run_page_interactive']['rows_in_dom']} (virtualised)")
    targets = [
        f"log line on screen p95 {percentile(log_ms, 95):.0f} ms <= {TARGET_LOG_MS:.0f} "
        f"{verdict(percentile(log_ms, 95), '<=', TARGET_LOG_MS)}",
        f"chart drawn median {median(draw_ms):.0f} ms <= {TARGET_DRAW_MS:.0f} "
        f"{verdict(median(draw_ms), '<=', TARGET_DRAW_MS)}",
        f"runs list interactive median {median(runs_ms):.0f} ms <= {TARGET_LIST_MS:.0f} "
        f"{verdict(median(runs_ms), '<=', TARGET_LIST_MS)}",
        f"run page interactive median {median(run_ms):.0f} ms <= {TARGET_LIST_MS:.0f} "
        f"{verdict(median(run_ms), '<=', TARGET_LIST_MS)}",
    ]
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
