#!/usr/bin/env python3
"""Building a run's Python environment: Lattice's builder against uv by hand.

The requirements are the 10 pinned distributions of
tests/wheels/requirements.txt, installed from their local wheels
(--no-index --find-links DIR; scripts/install-deps.sh downloads them into
$LATTICE_TEST_WHEELS, else ~/.cache/lattice/test-wheels), so no network is
involved. Each round, in alternating order so both see the same load:

- ours: `env_build_bench build` (bench/env_build_bench.cpp): the agent's
  path without the agent: the interpreter's version, the key,
  EnvCache::Acquire under its lock, BuildEnv (`uv venv`, `uv pip install -r`
  from a temporary file, output read line by line and redacted), the ready
  marker. Timed from spawning the tool to its exit (its own in-process time
  is shown too).
- peer: the same by hand: `uv venv --python P DIR` then `uv pip install
  --python DIR/bin/python -r FILE`, timed from spawning the first to the exit
  of the second.

Both first with a fresh, empty uv cache each ("first build"; target: ours
<= 1.5x the peer), then again into new directories with the cache each just
filled ("warm cache"). Both environments are checked to hold exactly the 10
distributions. Then "ready when cached": `env_build_bench acquire` times
EnvCache::Acquire (with EnvKey) on the ready key --acquires times; target:
the slowest <= 200 ms. It also shows the one interpreter-version query the
agent makes per interpreter (remembered after that).

Same interpreter (--python, default .venv/bin/python) and uv (--uv, default
.venv/bin/uv) on both sides, same environment variables (no progress bars,
no colour, no interpreter downloads). Everything lives in a temporary
directory removed at the end.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import REPO, BenchError, median, verdict

TARGET_RATIO = 1.5
TARGET_CACHED_MS = 200.0


def default_wheels():
    env = os.environ.get("LATTICE_TEST_WHEELS")
    return Path(env) if env else Path.home() / ".cache" / "lattice" / "test-wheels"


def child_env():
    """The caller's environment without installer or Lattice settings, plus what the builder sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "LATTICE_", "VIRTUAL_ENV"))}
    env.update(UV_NO_PROGRESS="1", NO_COLOR="1", UV_PYTHON_DOWNLOADS="never", PIP_NO_INPUT="1",
               PYTHONUNBUFFERED="1")
    return env


def run(argv, env, what):
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"{what} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}")
    return seconds, r.stdout


def ours(tool, work, tag, reqs, cache, python, uv):
    root = work / f"ours-{tag}"
    code = work / "code"
    seconds, out = run([tool, "build", "--root", str(root), "--requirements", str(reqs), "--workdir", str(code),
                        "--cache", str(cache), "--python", python, "--uv", uv, "--quiet"],
                       child_env(), "env_build_bench build")
    doc = json.loads(out)
    if not doc.get("built"):
        raise BenchError(f"env_build_bench did not build in a fresh root: {doc}")
    return seconds, doc["ms"] / 1e3, Path(doc["path"]), root


def by_hand(uv, work, tag, reqs, cache, python):
    env_dir = work / f"hand-{tag}"
    env = dict(child_env(), UV_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    run([uv, "venv", "--no-project", "--python", python, str(env_dir)], env, "uv venv")
    run([uv, "pip", "install", "--python", str(env_dir / "bin" / "python"), "-r", str(reqs)], env,
        "uv pip install")
    return time.perf_counter() - t0, env_dir


def distributions(env_dir):
    r = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                        "import importlib.metadata as m; print(len(list(m.distributions())))"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{env_dir}/bin/python failed: {r.stderr.strip()[-300:]}")
    return int(r.stdout)


CACHED_NOTE = re.compile(r"lattice: environment [0-9a-f]{12} ready \(cached\) in (\d+) ms")


def through_agent(binary, reqs, rounds):
    """The second and later starts of an experiment through a real local
    server and agent: the agent's own figure for getting the cached
    environment (from the attempt's environment step to ready), and submit to
    the script's first output against the same script with no environment,
    in the same run."""
    with benchlib.Lattice(binary) as lat:
        lat.start()
        code = lat.scratch / "with-env"
        code.mkdir()
        shutil.copy(reqs, code / "requirements.txt")
        (code / "train.py").write_text("print('first line', flush=True)\n")
        bare = lat.scratch / "no-env"
        bare.mkdir()
        (bare / "train.py").write_text("print('first line', flush=True)\n")
        lat.cli("run", "--follow", str(code / "train.py"), timeout=300)  # builds it once
        notes, with_env, without = [], [], []
        for i in range(rounds):
            for side in (("env", "bare") if i % 2 == 0 else ("bare", "env")):
                t0 = time.perf_counter()
                out = lat.cli("run", "--follow", str((code if side == "env" else bare) / "train.py"),
                              timeout=120).stdout
                (with_env if side == "env" else without).append(time.perf_counter() - t0)
                if "first line" not in out:
                    raise BenchError(f"the script's output is missing: {out[-300:]}")
                if side == "env":
                    m = CACHED_NOTE.search(out)
                    if not m:
                        raise BenchError(f"no 'ready (cached)' note in the experiment's log: {out[-500:]}")
                    notes.append(int(m.group(1)))
        return notes, with_env, without


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="one round, few acquires: checks that the benchmark runs")
    ap.add_argument("--strict", action="store_true", help="exit with status 3 when a target is missed")
    ap.add_argument("--tool", default=os.environ.get("ENV_BUILD_BENCH", str(REPO / "build" / "bench" / "env_build_bench")),
                    help="env_build_bench (default: $ENV_BUILD_BENCH, else build/bench/env_build_bench)")
    ap.add_argument("--uv", default=str(REPO / ".venv" / "bin" / "uv"), help="uv for both sides (default .venv/bin/uv)")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="the interpreter the environments are made from (default .venv/bin/python)")
    ap.add_argument("--wheels", default=str(default_wheels()), help="the test wheels (default: $LATTICE_TEST_WHEELS, "
                                                                    "else ~/.cache/lattice/test-wheels)")
    ap.add_argument("--binary", default=str(REPO / "build" / "lattice"), help="the lattice binary (default build/lattice)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of each build (default 7; --smoke 1)")
    ap.add_argument("--acquires", type=int, default=None, help="Acquire calls on the ready key (default 100; --smoke 5)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    rounds = a.rounds or (1 if a.smoke else 7)
    acquires = a.acquires or (5 if a.smoke else 100)
    for path, what in ((a.tool, "env_build_bench: build it with scripts/build.sh"),
                       (a.uv, "uv: scripts/install-deps.sh installs it into .venv"),
                       (a.python, "the interpreter")):
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is missing ({what})")
    wheels = Path(a.wheels)
    if not any(wheels.glob("*.whl")):
        raise BenchError(f"no wheels in {wheels} (scripts/install-deps.sh downloads them)")
    listed = [l.strip() for l in (REPO / "tests" / "wheels" / "requirements.txt").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
    uv_version = subprocess.run([a.uv, "--version"], capture_output=True, text=True).stdout.strip()
    print(benchlib.machine_line())
    print(f"tools: {uv_version} ({a.uv}), interpreter {a.python}, {len(listed)} pinned requirements "
          f"from the wheels in {wheels}")

    work = Path(tempfile.mkdtemp(prefix="lattice-bench-env-"))
    try:
        tool = str(work / "env_build_bench")  # a private copy: a rebuild meanwhile changes nothing
        shutil.copy2(a.tool, tool)
        (work / "code").mkdir()
        reqs = work / "requirements.txt"
        reqs.write_text(f"--no-index\n--find-links {wheels}\n" + "\n".join(listed) + "\n")
        times = {(side, tag): [] for side in ("ours", "hand") for tag in ("cold", "warm")}
        inproc = {"cold": [], "warm": []}
        ready_root = None
        for i in range(rounds):
            order = ("ours", "hand") if i % 2 == 0 else ("hand", "ours")
            for tag in ("cold", "warm"):  # warm: the cache the cold build of this round filled
                for side in order:
                    cache = work / f"cache-{side}-{i}"
                    if side == "ours":
                        seconds, ms, env_path, ready_root = ours(tool, work, f"{tag}-{i}", reqs, cache, a.python, a.uv)
                        inproc[tag].append(ms)
                    else:
                        seconds, env_path = by_hand(a.uv, work, f"{tag}-{i}", reqs, cache, a.python)
                    times[(side, tag)].append(seconds)
                    n = distributions(env_path)
                    if n != len(listed):
                        raise BenchError(f"{env_path} holds {n} distributions, expected {len(listed)}")
            load = open("/proc/loadavg").read().split()[0]
            print(f"  round {i + 1}: first build ours {times[('ours', 'cold')][-1]:.3f} s, "
                  f"by hand {times[('hand', 'cold')][-1]:.3f} s; warm ours {times[('ours', 'warm')][-1]:.3f} s, "
                  f"by hand {times[('hand', 'warm')][-1]:.3f} s (load {load})")

        _, out = run([tool, "acquire", "--root", str(ready_root), "--requirements", str(reqs), "--python", a.python,
                      "--repeat", str(acquires)], child_env(), "env_build_bench acquire")
        cached = json.loads(out)
        notes, with_env, without = through_agent(a.binary, reqs, 2 if a.smoke else 5)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cold_ours, cold_hand = times[("ours", "cold")], times[("hand", "cold")]
    warm_ours, warm_hand = times[("ours", "warm")], times[("hand", "warm")]
    cold_ratio = median(cold_ours) / median(cold_hand)
    warm_ratio = median(warm_ours) / median(warm_hand)
    print(f"first build, empty uv cache, median of {rounds}:")
    print(f"  ours: env_build_bench build (EnvCache::Acquire + BuildEnv)  {median(cold_ours):7.3f} s  "
          f"(min {min(cold_ours):.3f}; in-process {median(inproc['cold']):.3f} s)")
    print(f"  peer: uv venv + uv pip install -r, by hand               {median(cold_hand):7.3f} s  "
          f"(min {min(cold_hand):.3f})")
    print(f"  ratio, ours / by hand: {cold_ratio:.2f}x")
    print(f"warm uv cache, median of {rounds}:")
    print(f"  ours {median(warm_ours):.3f} s (in-process {median(inproc['warm']):.3f} s), "
          f"by hand {median(warm_hand):.3f} s, ratio {warm_ratio:.2f}x")
    print(f"ready when cached: EnvCache::Acquire + EnvKey on the ready key, {cached['repeat']} calls: "
          f"median {cached['median_ms']:.3f} ms, max {cached['max_ms']:.3f} ms; "
          f"the interpreter's version, asked once per interpreter: {cached['python_version_ms']:.1f} ms")
    print(f"second start through a local server and agent, {len(notes)} runs: the agent's 'ready (cached)' "
          f"figure median {median(notes):.0f} ms, slowest {max(notes)} ms; submit to the script's exit "
          f"(lattice run --follow) {median(with_env):.3f} s with the environment, {median(without):.3f} s "
          f"without one ({median(with_env) / median(without):.2f}x)")
    targets = [f"first build <= {TARGET_RATIO}x uv by hand: {cold_ratio:.2f}x {verdict(cold_ratio, '<=', TARGET_RATIO)}",
               f"ready when cached <= {TARGET_CACHED_MS:.0f} ms: {cached['max_ms']:.2f} ms (slowest Acquire) "
               f"{verdict(cached['max_ms'], '<=', TARGET_CACHED_MS)}",
               f"second start, environment ready (agent's figure) <= {TARGET_CACHED_MS:.0f} ms: {max(notes)} ms "
               f"(slowest) {verdict(max(notes), '<=', TARGET_CACHED_MS)}"]
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
