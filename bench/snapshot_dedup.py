#!/usr/bin/env python3
"""Re-submitting a large project after a small edit: what `lattice run` uploads.

Generates a project of --mb MB (default 200; --smoke 5) under a scratch
directory: binary files of mixed sizes (4 KiB to 8 MiB, random bytes, so
incompressible), among them a 1 MiB data/edit_me.bin, plus Python-like text
files, and a train.py that prints one line. Against a local server and agent
(`lattice server start` under a private LATTICE_HOME):

1. `lattice run train.py` (first submit: everything is new); waits until
   the run succeeded (the agent fetched and unpacked the whole snapshot);
2. changes 8 bytes in the middle of data/edit_me.bin (one file) and submits
   again; waits for it too;
3. submits once more without any change.

For each submit: the wall time of `lattice run` (snapshot, upload, submit),
the peak RSS of the CLI, the seconds until the run succeeded, and the bytes
uploaded, measured on the server (the sizes of the blobs that appeared in its
blob store; every byte the CLI sends is a new blob) and cross-checked with the
CLI's summary line on stderr.
Peer: the single-archive snapshot of earlier versions, which re-uploaded the
whole tree's tar.zst on every change: made here with `tar --format=pax
--sort=name | zstd -3` of the same tree (what that format was), and PUT as one
blob to the same server (what that CLI did); its size and the time to make
and upload it are shown beside ours. Target: the second upload <= 1 MB
(1,000,000 bytes).
"""

import argparse
import hashlib
import http.client
import os
import random
import re
import subprocess
import time
from pathlib import Path

import benchlib
from benchlib import BenchError, Lattice, verdict

TARGET_BYTES = 1_000_000
SUMMARY_RE = re.compile(r"^lattice: code .* in (\d+) chunks?; (?:uploaded (.+?) \((\d+) new chunks?\)|nothing to upload)",
                        re.M)
TEXT_WORDS = ("import torch", "def forward(self, x):", "return x", "for batch in loader:",
              "loss.backward()", "optimizer.step()", "# comment", "self.layer = nn.Linear(128, 128)")


def generate(root: Path, total: int, seed: int) -> Path:
    """Writes the project; returns the file the edit goes to."""
    rng = random.Random(seed)
    (root / "data").mkdir(parents=True)
    (root / "src").mkdir()
    edit = root / "data" / "edit_me.bin"
    edit.write_bytes(rng.randbytes(1 << 20))
    written = 1 << 20
    # About 1/20 of the bytes in text files of a few KiB.
    text_budget = total // 20
    i = 0
    while text_budget > 0:
        lines = [rng.choice(TEXT_WORDS) for _ in range(rng.randint(50, 400))]
        text = "\n".join(lines) + "\n"
        (root / "src" / f"module_{i:04d}.py").write_text(text)
        text_budget -= len(text)
        written += len(text)
        i += 1
    i = 0
    sizes = (4 << 10, 64 << 10, 512 << 10, 2 << 20, 8 << 20)
    while written < total:
        size = min(rng.choice(sizes) * rng.randint(1, 4) // 2 or 4096, total - written)
        sub = root / "data" / f"shard_{i % 16:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"blob_{i:05d}.bin").write_bytes(rng.randbytes(size))
        written += size
        i += 1
    script = root / "train.py"
    script.write_text("print('training done')\n")
    return edit


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def single_archive(root: Path) -> bytes:
    """The project as one pax tar compressed with zstd -3."""
    tar = subprocess.Popen(["tar", "--format=pax", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                            "--numeric-owner", "-cf", "-", "-C", str(root), "."], stdout=subprocess.PIPE)
    zstd = subprocess.run(["zstd", "-3", "-q", "-c"], stdin=tar.stdout, stdout=subprocess.PIPE, check=False)
    tar.stdout.close()
    if tar.wait() != 0 or zstd.returncode != 0:
        raise BenchError("tar | zstd failed (are GNU tar and zstd installed?)")
    return zstd.stdout


def put_blob(lat: Lattice, data: bytes) -> float:
    """PUT /api/v1/blobs/{sha256} of data in one request, as the old CLI did; seconds."""
    sha = hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection(lat.host, lat.port, timeout=600)
    headers = {"Content-Type": "application/octet-stream"}
    if lat.token:
        headers["Authorization"] = f"Bearer {lat.token}"
    try:
        t0 = time.perf_counter()
        conn.request("PUT", f"/api/v1/blobs/{sha}", body=data, headers=headers)
        resp = conn.getresponse()
        resp.read()
        seconds = time.perf_counter() - t0
    finally:
        conn.close()
    if resp.status != 201:
        raise BenchError(f"PUT of the single archive answered {resp.status}")
    return seconds


class BlobDir:
    """The server's blob store, to see what each submit added."""

    def __init__(self, home: Path):
        self.dir = home / "server" / "blobs" / "sha256"
        self.seen = self.snapshot()

    def snapshot(self):
        if not self.dir.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in self.dir.iterdir()}

    def added(self):
        now = self.snapshot()
        new = {k: v for k, v in now.items() if k not in self.seen}
        self.seen = now
        return len(new), sum(new.values())


def submit(lat: Lattice, script: Path, work: Path):
    """`lattice run SCRIPT`: (name, seconds, peak RSS in KiB, stderr)."""
    out, err = work / "run.out", work / "run.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.perf_counter()
        proc = subprocess.Popen(lat.cmd("run", str(script)), env=lat.env, stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err.read_text()
    if proc.returncode != 0:
        raise BenchError(f"lattice run exited {proc.returncode}: {stderr.strip()[:500]}")
    return out.read_text().strip().splitlines()[-1], seconds, usage.ru_maxrss, stderr


def cli_summary(stderr: str):
    """(chunks, uploaded text or None, new chunks) from the CLI's summary line, or None."""
    m = SUMMARY_RE.search(stderr)
    if not m:
        return None
    return int(m.group(1)), m.group(2), int(m.group(3) or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--mb", type=int, default=None, help="project size in MB (default 200; --smoke 5)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the generated project (default 7)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    total = (a.mb or (5 if a.smoke else 200)) * 1_000_000
    print(benchlib.machine_line())

    with Lattice(a.lattice, a.home) as lat:
        project = lat.scratch / "project"
        work = lat.scratch / "work"
        work.mkdir()
        t0 = time.perf_counter()
        edit = generate(project, total, a.seed)
        files = sum(1 for p in project.rglob("*") if p.is_file())
        size = tree_bytes(project)
        print(f"project: {size / 1e6:.1f} MB in {files:,} files (generated in {time.perf_counter() - t0:.1f} s)")
        t0 = time.perf_counter()
        peer = single_archive(project)
        peer_bytes = len(peer)
        peer_make = time.perf_counter() - t0
        lat.start()
        peer_put = put_blob(lat, peer)
        del peer
        blobs = BlobDir(lat.home)
        script = project / "train.py"

        rows = []
        for label in ("first submit", "after a one-file edit", "no change"):
            if label == "after a one-file edit":
                data = bytearray(edit.read_bytes())
                data[len(data) // 2:len(data) // 2 + 8] = os.urandom(8)
                edit.write_bytes(bytes(data))
            name, seconds, rss_kib, stderr = submit(lat, script, work)
            t_submitted = time.perf_counter()
            new_blobs, new_bytes = blobs.added()
            doc = lat.wait_terminal(name, timeout=600)
            if doc.get("state") != "succeeded":
                raise BenchError(f"run {name} ended {doc.get('state')}; see {lat.home}/agent.log")
            ran = time.perf_counter() - t_submitted
            rows.append((label, seconds, rss_kib, new_blobs, new_bytes, cli_summary(stderr), ran))

    print(f"{'':<24} {'lattice run':>11} {'CLI RSS':>9} {'uploaded (server)':>20} {'CLI summary':>28} "
          f"{'until succeeded':>16}")
    for label, seconds, rss_kib, new_blobs, new_bytes, cli, ran in rows:
        cli_text = "(no summary line)" if cli is None else (
            f"{cli[1] or 'nothing'}, {cli[2]}/{cli[0]} chunks")
        print(f"  {label:<22} {seconds:9.2f} s {rss_kib / 1024:6.0f} MiB {new_bytes:>12,} B {new_blobs:>4} blobs "
              f"{cli_text:>28} {ran:13.2f} s")
    first_bytes = rows[0][4]
    second_bytes = rows[1][4]
    print(f"peer: single tar.zst of the tree (the old snapshot, uploaded whole on every change): "
          f"{peer_bytes:,} B; made in {peer_make:.2f} s (tar | zstd -3), PUT in {peer_put:.2f} s: "
          f"{peer_make + peer_put:.2f} s per submit")
    print(f"  chunked snapshot stored: {first_bytes:,} B ({first_bytes / peer_bytes:.3f}x the single archive)")
    print(f"  ratio, second upload / single archive: {second_bytes / peer_bytes:.5f} "
          f"({peer_bytes / max(second_bytes, 1):,.0f}x less)")
    if rows[2][4] != 0:
        raise BenchError(f"an unchanged re-submit uploaded {rows[2][4]} bytes")
    if a.smoke and not benchlib.finite_positive(first_bytes, second_bytes, peer_bytes, rows[0][1], rows[1][1]):
        raise BenchError("smoke: the figures are not positive finite numbers")
    targets = [f"second upload <= 1 MB: {second_bytes:,} B {verdict(second_bytes, '<=', TARGET_BYTES)}"]
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
