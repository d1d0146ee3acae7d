#!/usr/bin/env python3
"""Log capture throughput, agent memory, and follow latency.

1. Capture: a script writes --bytes (default 1 GiB) of 100-byte lines as fast
   as it can. Timed from invoking `lattice run` until a client reading the
   experiment's log from the server (the API by default, as `lattice logs
   --follow` does; --reader cli reads through the CLI itself) holds every
   byte, verified by length, line count and CRC-32. The peer is the same
   writer piped to `cat > /dev/null` in the same run. Meanwhile the agent's
   resident memory is sampled from /proc. Targets: >= 100 MB/s, agent RSS
   <= 100 MB (MB = 10^6 bytes).
2. Follow latency: a script prints a line stamped with the wall clock every
   20 ms (200 lines); `lattice logs --follow` reads them, and the latency of a
   line is its arrival minus its stamp. The peer is the same script read
   through a bare pipe. Target: p99 <= 100 ms.

Standard library only.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import threading
import time
import zlib

import benchlib
import log_writer
from benchlib import BenchError, Lattice, median, percentile, verdict

TARGET_MBPS = 100.0
TARGET_RSS_MB = 100.0
TARGET_FOLLOW_P99_MS = 100.0

TICKER = r'''import os, sys, time
go, count, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit(2)
    time.sleep(0.002)
due = time.monotonic()
for i in range(count):
    print("tick %d %.6f" % (i, time.time()), flush=True)
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
'''


class RssSampler(threading.Thread):
    """Samples VmRSS of some pids every `period` seconds; keeps the maxima (KiB)."""

    def __init__(self, pids, period=0.02):
        super().__init__(daemon=True)
        self.pids = {k: v for k, v in pids.items() if v}
        self.period = period
        self.max_rss = {k: 0 for k in self.pids}
        self.hwm = {k: 0 for k in self.pids}
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.period)

    def sample(self):
        self.samples += 1
        for k, pid in self.pids.items():
            rss, hwm = benchlib.rss_kib(pid)
            if rss is not None:
                self.max_rss[k] = max(self.max_rss[k], rss)
                self.hwm[k] = max(self.hwm[k], hwm or 0)

    def stop(self):
        self._halt.set()
        self.join()
        self.sample()


class Stream:
    """Counts, line-counts and checksums what arrives; stamps when `expected` bytes are in."""

    def __init__(self, expected, t0):
        self.expected, self.t0 = expected, t0
        self.bytes = self.lines = self.crc = 0
        self.t_all = None
        self.last_progress = time.monotonic()

    def add(self, data):
        if not data:
            return
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        self.crc = zlib.crc32(data, self.crc)
        self.last_progress = time.monotonic()
        if self.t_all is None and self.bytes >= self.expected:
            self.t_all = time.perf_counter() - self.t0


def read_via_api(lat, name, stream, stall_s):
    """Follows experiment 0's log by offset with long polls, as `lattice logs --follow` does."""
    offset, attempt, caught_up = 0, 0, False
    while True:
        wait = 10000 if caught_up else 0
        status, headers, body = lat.request(
            f"/runs/{name}/experiments/0/logs?offset={offset}&attempt={attempt}&wait_ms={wait}", timeout=60)
        if status != 200:
            raise BenchError(f"reading the log answered {status}: {body[:300]!r}")
        number = int(headers.get("x-lattice-attempt", "0") or 0)
        if attempt == 0 and number > 0:
            attempt = number
        stream.add(body)
        offset = int(headers.get("x-lattice-next-offset", offset))
        if not body:
            caught_up = True
        if headers.get("x-lattice-complete") == "1" and headers.get("x-lattice-experiment-state") in (
                "succeeded", "failed", "cancelled"):
            return headers.get("x-lattice-experiment-state")
        if time.monotonic() - stream.last_progress > stall_s:
            raise BenchError(f"no log bytes arrived for {stall_s:.0f} s (have {stream.bytes} of {stream.expected})")


def read_after(lat, name, stream, stall_s):
    """Waits, without reading, until the server holds the whole log of the ended attempt; then reads it."""
    deadline = time.monotonic() + stall_s * 10
    while True:
        status, headers, body = lat.request(
            f"/runs/{name}/experiments/0/logs?offset={stream.expected}&wait_ms=10000", timeout=60)
        if status != 200:
            raise BenchError(f"polling the log answered {status}: {body[:300]!r}")
        if headers.get("x-lattice-complete") == "1" or body:  # body: more bytes than written; verified below
            break
        if time.monotonic() > deadline:
            raise BenchError("the server did not complete the log in time")
    t_server = time.perf_counter() - stream.t0
    state = read_via_api(lat, name, stream, stall_s)
    stream.t_all = t_server
    return state


def read_via_cli(lat, name, stream, stall_s):
    p = subprocess.Popen(lat.cmd("logs", name, "--follow"), env=lat.env, stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, bufsize=0)
    try:
        while True:
            data = p.stdout.read(1 << 20)
            if not data:
                break
            stream.add(data)
        code = p.wait(timeout=stall_s)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return "succeeded" if code == 0 else f"exit {code}"


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def timed_shell(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(["bash", "-c", cmd], stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise BenchError(f"`{cmd}` exited {r.returncode}")
    return time.perf_counter() - t0


def capture(lat, a, total, expect_crc, expect_lines):
    writer = lat.write_script("log_writer.py", open(log_writer.__file__).read(), subdir="writer")
    py = sys.executable
    # Peers first, so the page cache and the interpreter are as warm for them as for lattice.
    pipe_s = timed_shell(f"'{py}' '{writer}' {a.bytes} | cat > /dev/null")
    out_file = lat.scratch / "writer.out"
    file_s = timed_shell(f"'{py}' '{writer}' {a.bytes} > '{out_file}'")
    out_file.unlink()

    sampler = RssSampler({"agent": lat.agent_pid(), "server": lat.server_pid})
    sampler.start()
    t0 = time.perf_counter()
    try:
        name = lat.submit("--python", py, str(writer), str(a.bytes))
        stream = Stream(total, t0)
        reader = {"api": read_via_api, "cli": read_via_cli, "after": read_after}[a.reader]
        state = reader(lat, name, stream, a.stall)
        t_done = time.perf_counter() - t0
    finally:
        sampler.stop()
    doc = lat.wait_terminal(name)
    exp = doc["experiments"][0]
    runtime = None
    if exp.get("started_at") and exp.get("ended_at"):
        runtime = parse_time(exp["ended_at"]) - parse_time(exp["started_at"])

    problems = []
    if state != "succeeded" or doc["state"] != "succeeded":
        problems.append(f"the run ended {doc['state']} ({exp.get('reason', '')})")
    if stream.bytes != total:
        problems.append(f"got {stream.bytes} bytes, the script wrote {total}")
    if stream.lines != expect_lines:
        problems.append(f"got {stream.lines} lines, the script wrote {expect_lines}")
    if stream.crc != expect_crc:
        problems.append(f"CRC-32 {stream.crc:08x} differs from the script's {expect_crc:08x}")
    t_all = stream.t_all if stream.t_all is not None else t_done
    mbps = total / 1e6 / t_all
    pipe_mbps = total / 1e6 / pipe_s
    file_mbps = total / 1e6 / file_s
    mb = lambda kib: kib * 1024 / 1e6  # noqa: E731
    agent_rss = mb(sampler.max_rss.get("agent", 0))
    agent_hwm = mb(sampler.hwm.get("agent", 0))
    server_rss = mb(sampler.max_rss.get("server", 0))

    print(f"log capture: {total} bytes in {expect_lines} lines of {log_writer.LINE_BYTES} bytes "
          f"(reader: {a.reader})")
    print(f"  {'':<52} {'seconds':>8} {'MB/s':>8}")
    print(f"  {'peer: writer | cat > /dev/null':<52} {pipe_s:8.2f} {pipe_mbps:8.1f}")
    print(f"  {'      writer > file':<52} {file_s:8.2f} {file_mbps:8.1f}")
    until = "the server holds every byte" if a.reader == "after" else "the reader holds every byte"
    print(f"  {'lattice run, until ' + until:<52} {t_all:8.2f} {mbps:8.1f}")
    if runtime is not None:
        print(f"  {'  the script itself under lattice (started..ended)':<52} {runtime:8.2f} "
              f"{total / 1e6 / runtime if runtime > 0 else float('inf'):8.1f}")
    print(f"  ratio, lattice / pipe: {mbps / pipe_mbps:.2f}x")
    print(f"  verified: {'bytes, lines and CRC-32 match' if not problems else '; '.join(problems)}")
    print(f"  agent RSS: max sampled {agent_rss:.1f} MB, peak (VmHWM) {agent_hwm:.1f} MB; "
          f"server max sampled RSS {server_rss:.1f} MB ({sampler.samples} samples)")
    if problems:
        raise BenchError("log capture was not complete: " + "; ".join(problems))
    return mbps, max(agent_rss, agent_hwm), pipe_mbps


def check_disk(lat, total):
    """The capture stores the log twice under the home (spool, server) and once in the scratch dir."""
    need = {}
    for path, n in ((lat.home, 2 * total), (lat.scratch, total)):
        dev = os.stat(path).st_dev
        need[dev] = (path, need.get(dev, (path, 0))[1] + n)
    for path, n in need.values():
        free = shutil.disk_usage(path).free
        if free < n + (1 << 30):
            raise BenchError(f"the capture needs about {(n + (1 << 30)) / 1e9:.1f} GB free under {path} "
                             f"(log spool, server log, file peer); {free / 1e9:.1f} GB free")


def follow_latency(lat, a, count):
    ticker = lat.write_script("ticker.py", TICKER)
    period = 0.02

    def collect(argv, env, go):
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        lat_ms = []
        try:
            for raw in p.stdout:
                now = time.time()
                parts = raw.decode(errors="replace").split()
                if parts[:1] == ["ready"]:
                    go.touch()
                elif len(parts) == 3 and parts[0] == "tick":
                    lat_ms.append((now - float(parts[2])) * 1000.0)
            code = p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if code != 0:
            raise BenchError(f"{' '.join(argv[:3])} exited {code}")
        if len(lat_ms) != count:
            raise BenchError(f"follow latency: got {len(lat_ms)} of {count} lines")
        return lat_ms

    go_bare = lat.scratch / "go-bare"
    bare = collect([sys.executable, str(ticker), str(go_bare), str(count), str(period)], None, go_bare)
    go = lat.scratch / "go-lattice"
    name = lat.submit("--python", sys.executable, str(ticker), str(go), str(count), str(period))
    followed = collect(lat.cmd("logs", name, "--follow"), lat.env, go)

    print(f"follow latency: {count} lines, one every {period * 1000:.0f} ms, arrival minus the line's stamp")
    print(f"  {'':<34} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   (ms)")
    for label, v in (("peer: bare pipe", bare), ("`lattice logs --follow`", followed)):
        print(f"  {label:<34} {percentile(v, 50):8.2f} {percentile(v, 90):8.2f} {percentile(v, 99):8.2f} "
              f"{max(v):8.2f}")
    return percentile(followed, 99), percentile(followed, 50), median(bare)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--bytes", type=int, default=1 << 30,
                    help="bytes the writer prints (default 1 GiB; --smoke: 8 MiB)")
    ap.add_argument("--lines", type=int, default=200,
                    help="lines of the follow-latency script (default 200; --smoke: 20)")
    ap.add_argument("--reader", choices=("api", "cli", "after"), default="api",
                    help="api: read the log over HTTP while it is written, like `lattice logs --follow` "
                         "(default); cli: read the stdout of `lattice logs --follow`; after: time until the "
                         "server holds the whole log with nobody reading, then read and verify it")
    ap.add_argument("--stall", type=float, default=60.0, help="give up after this many seconds without progress")
    ap.add_argument("--skip-capture", action="store_true")
    ap.add_argument("--skip-follow", action="store_true")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        if a.bytes == 1 << 30:
            a.bytes = 8 << 20
        if a.lines == 200:
            a.lines = 20
    total = log_writer.total_for(a.bytes)
    if total <= 0 or a.lines < 1:
        raise BenchError("--bytes must be at least one line and --lines at least 1")

    print(benchlib.machine_line())
    expect_crc, expect_lines = 0, total // log_writer.LINE_BYTES
    for block in log_writer.blocks(a.bytes):
        expect_crc = zlib.crc32(block, expect_crc)
    verdicts = []
    with Lattice(a.lattice, a.home) as lat:
        if not a.skip_capture:
            check_disk(lat, total)
        lat.start()
        lat.wait_terminal(lat.submit(str(lat.write_script("warm.sh", "echo warm\n"))))  # warm-up
        if not a.skip_capture:
            mbps, rss, pipe_mbps = capture(lat, a, total, expect_crc, expect_lines)
            verdicts += [verdict(mbps, ">=", TARGET_MBPS), verdict(rss, "<=", TARGET_RSS_MB)]
            print(f"target: >= {TARGET_MBPS:.0f} MB/s end to end: {mbps:.1f} MB/s {verdicts[-2]}; "
                  f"agent RSS <= {TARGET_RSS_MB:.0f} MB: {rss:.1f} MB {verdicts[-1]}")
            if a.smoke and not benchlib.finite_positive(mbps, rss, pipe_mbps):
                raise BenchError("smoke: the capture figures are not positive finite numbers")
        if not a.skip_follow:
            p99, p50, bare = follow_latency(lat, a, a.lines)
            verdicts.append(verdict(p99, "<=", TARGET_FOLLOW_P99_MS))
            print(f"target: follow latency p99 <= {TARGET_FOLLOW_P99_MS:.0f} ms: {p99:.1f} ms {verdicts[-1]}")
            if a.smoke and not (benchlib.finite_positive(p99, p50) and bare == bare):
                raise BenchError("smoke: the follow-latency figures are not positive finite numbers")
    if a.smoke:
        return 0
    return 3 if a.strict and "FAIL" in verdicts else 0


if __name__ == "__main__":
    benchlib.main_wrapper(main)
