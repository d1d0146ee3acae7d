#!/usr/bin/env python3
"""TensorBoard event file reading: our reader against TensorBoard's own.

1. `tfevents_bench write` makes an event file of --mb MB (default 100;
   --smoke: 2): a file-version record, then scalars of 4 tags, half written
   as `simple_value` and half as one-element DT_FLOAT tensors (the "new
   style" of TF2 and torch), steps increasing. Then `tfevents_bench read`
   times metrics::ReadTfEventsFile on it (best of --repeat runs), and
   TensorBoard's EventAccumulator (PyPI `tensorboard`, in this interpreter)
   loads the same file once: `EventAccumulator(path, size_guidance={'scalars':
   0, 'tensors': 0})`, `.Reload()`, then every value of every tag under
   `Tags()['scalars']` and `Tags()['tensors']` is counted (EventAccumulator
   files tensor-form scalars under 'tensors'). Both must see the same number
   of scalars. Target: ours >= 50x EventAccumulator; ours >= 300 MB/s.
2. `tfevents_bench jsonl-write` / `jsonl-read`: the metrics JSON-lines reader
   (JsonlMetricsTail fed 1 MiB chunks) over lines of a step and 3 keys, of
   the same size. Target: >= 1,000,000 lines/s.
Both files live in a temporary directory removed at the end.
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import benchlib
from benchlib import REPO, BenchError, verdict


def run_tool(tool, *args):
    r = subprocess.run([tool, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise BenchError(f"{os.path.basename(tool)} {' '.join(args)} exited {r.returncode}: {r.stderr[:300]}")
    return json.loads(r.stdout)


def tensorboard_count(path):
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as e:
        raise BenchError(f"TensorBoard is not installed in {os.sys.executable} ({e}); "
                         "pip install tensorboard==2.15.2") from e
    t0 = time.monotonic()
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    count = sum(len(acc.Scalars(tag)) for tag in tags["scalars"])
    count += sum(len(acc.Tensors(tag)) for tag in tags["tensors"])
    return count, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a ~2 MB file: checks that the benchmark runs")
    ap.add_argument("--strict", action="store_true", help="exit with status 3 when a target is missed")
    ap.add_argument("--mb", type=float, default=None, help="file size in MB (default 100; --smoke: 2)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of our reader; the best counts (default 3)")
    ap.add_argument("--tool", default=os.environ.get("TFEVENTS_BENCH", str(REPO / "build" / "bench" / "tfevents_bench")),
                    help="the tfevents_bench binary (default: $TFEVENTS_BENCH, else build/bench/tfevents_bench)")
    ap.add_argument("--skip-tensorboard", action="store_true", help="time our readers only")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    mb = a.mb if a.mb is not None else (2.0 if a.smoke else 100.0)
    if not os.access(a.tool, os.X_OK):
        raise BenchError(f"{a.tool} is missing; build the tfevents_bench target")
    print(benchlib.machine_line())
    work = tempfile.mkdtemp(prefix="lattice-bench-tfevents.")
    try:
        path = os.path.join(work, "events.out.tfevents.bench")
        written = run_tool(a.tool, "write", path, "--mb", str(mb))
        size_mb = written["bytes"] / 1e6
        ours = min((run_tool(a.tool, "read", path) for _ in range(max(1, a.repeat))), key=lambda r: r["seconds"])
        if ours["warnings"]:
            raise BenchError(f"our reader warned {ours['warnings']} times on a sound file")
        if ours["records"] != written["records"]:
            raise BenchError(f"wrote {written['records']} records, read {ours['records']}")

        jsonl = os.path.join(work, "metrics.jsonl")
        jw = run_tool(a.tool, "jsonl-write", jsonl, "--mb", str(mb))
        jr = min((run_tool(a.tool, "jsonl-read", jsonl) for _ in range(max(1, a.repeat))), key=lambda r: r["seconds"])
        if jr["lines"] != jw["lines"] or jr["warnings"]:
            raise BenchError(f"JSON lines: wrote {jw['lines']}, read {jr['lines']} with {jr['warnings']} warnings")

        tb_count = tb_seconds = None
        if not a.skip_tensorboard:
            tb_count, tb_seconds = tensorboard_count(path)
            if tb_count != ours["scalars"]:
                raise BenchError(f"EventAccumulator saw {tb_count} scalars, ours {ours['scalars']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"event file of {size_mb:.1f} MB, {ours['scalars']:,} scalars (4 tags, simple_value and tensor form)")
    print(f"  ours: ReadTfEventsFile, best of {a.repeat}     {ours['seconds']:8.3f} s  {ours['mb_per_s']:8.1f} MB/s")
    targets = [f"ours >= 300 MB/s: {ours['mb_per_s']:.0f} {verdict(ours['mb_per_s'], '>=', 300.0)}"]
    if tb_seconds is not None:
        tb_rate = size_mb / tb_seconds
        ratio = tb_seconds / ours["seconds"]
        print(f"  peer: TensorBoard EventAccumulator     {tb_seconds:8.3f} s  {tb_rate:8.1f} MB/s")
        print(f"  ratio, ours / EventAccumulator: {ratio:.0f}x faster")
        targets.insert(0, f">= 50x EventAccumulator: {ratio:.0f}x {verdict(ratio, '>=', 50.0)}")
    print(f"metrics JSON lines, {jr['lines']:,} lines of a step and 3 keys ({jw['bytes'] / 1e6:.1f} MB)")
    print(f"  ours: JsonlMetricsTail, best of {a.repeat}    {jr['seconds']:8.3f} s  {jr['lines_per_s']:10,.0f} lines/s")
    targets.append(f">= 1,000,000 lines/s: {jr['lines_per_s']:,.0f} {verdict(jr['lines_per_s'], '>=', 1e6)}")
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
