"""Python environments end to end: a run's requirements become a venv built
once per content on the node, reused by later runs, with failures, set-up,
credentials and `lattice env` as a user meets them. Packages come from the
wheels set-up downloaded once (no network): a --find-links directory, or a
local index server started by the test."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness import Lattice, lattice, script_dir, wait_for, write_script  # noqa: F401
from pkgindex import PackageIndex

WHEELS = Path(os.environ.get("LATTICE_TEST_WHEELS", Path.home() / ".cache" / "lattice" / "test-wheels"))

SHOW = """import importlib.util, sys
import six, attrs
print("prefix", sys.prefix)
print("versions", six.__version__, attrs.__version__)
print("sklearn visible", importlib.util.find_spec("sklearn") is not None)
"""


@pytest.fixture(autouse=True)
def wheels():
    assert any(WHEELS.glob("six-*.whl")), f"no test wheels in {WHEELS}: run scripts/install-deps.sh"


def local_requirements(*pins):
    return "--no-index\n--find-links " + str(WHEELS) + "\n" + "\n".join(pins) + "\n"


def logs(lat, target):
    return lat.run("logs", target).stdout


def reason(lat, run, exp=0):
    return lat.json("status", run)["experiments"][exp]["reason"]


def test_requirements_build_once_and_later_runs_reuse_the_environment(lattice, script_dir):
    (script_dir / "requirements.txt").write_text(local_requirements("six==1.16.0", "attrs==24.2.0"))
    write_script(script_dir, "show.py", SHOW + "import sys; print('arg', sys.argv[1:])\n")
    # Two experiments at once need the same new environment: one builds it,
    # the other waits for that build instead of racing it.
    name = lattice.run("run", script_dir / "show.py", "--x", "[1, 2]").stdout.strip()
    doc = lattice.wait_state(name, {"succeeded", "failed"}, timeout=180)
    assert doc["state"] == "succeeded", [e["reason"] for e in doc["experiments"]]
    first = [logs(lattice, f"{name}/{i}") for i in range(2)]
    assert sum("built in" in text for text in first) == 1, first
    assert sum("ready (cached)" in text for text in first) == 1, first
    for text in first:
        assert "versions 1.16.0 24.2.0" in text
        assert "sklearn visible False" in text  # only what was asked for
        prefix = next(line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("prefix "))
        assert prefix.startswith(str(lattice.home / "agent" / "envs")), prefix
    envs = lattice.json("env", "list")["environments"]
    assert len(envs) == 1 and envs[0]["size_bytes"] > 100_000 and envs[0]["last_used"]
    # Comments and order do not make a new environment.
    (script_dir / "requirements.txt").write_text("# pinned\n" + local_requirements("attrs==24.2.0", "six==1.16.0"))
    again = lattice.run("run", "--follow", script_dir / "show.py")
    assert "ready (cached) in" in again.stdout and "built in" not in again.stdout
    assert len(lattice.json("env", "list")["environments"]) == 1
    # The API shows where the requirements came from.
    shown = lattice.json("status", name)["environment"]
    assert shown["source"] == "requirements.txt" and "six==1.16.0" in shown["requirements"]


def test_system_site_packages_and_pyproject_and_requirements_flag(lattice, script_dir):
    (script_dir / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\ndependencies = [\n  "six==1.16.0",\n  "attrs==24.2.0",\n]\n')
    (script_dir / "local.txt").write_text(local_requirements())
    write_script(script_dir, "show.py", SHOW)
    # pyproject dependencies, plus a requirements file naming only the index:
    # --requirements replaces the pyproject, so give both through -r.
    (script_dir / "all.txt").write_text("-r local.txt\nsix==1.16.0\nattrs==24.2.0\n")
    proc = lattice.run("run", "--follow", "--requirements", script_dir / "all.txt", "--system-site-packages",
                       script_dir / "show.py", timeout=180)
    assert "versions 1.16.0 24.2.0" in proc.stdout
    assert "sklearn visible True" in proc.stdout  # Debian's packages show through
    # pyproject.toml alone is read when there is no requirements.txt; with no
    # index options it would reach for PyPI, so point pip/uv at the wheels.
    lattice.env["UV_NO_INDEX"] = "1"
    lattice.env["UV_FIND_LINKS"] = str(WHEELS)
    lattice.env["PIP_NO_INDEX"] = "1"
    lattice.env["PIP_FIND_LINKS"] = str(WHEELS)
    lattice.run("server", "stop")  # the agent takes its environment from the shell that starts it
    proc = lattice.run("run", "--follow", script_dir / "show.py", timeout=180)
    assert "versions 1.16.0 24.2.0" in proc.stdout
    assert "sklearn visible False" in proc.stdout
    runs = lattice.json("status")["runs"]
    sources = {lattice.json("status", r["name"])["environment"]["source"] for r in runs}
    assert sources == {str(script_dir / "all.txt"), "pyproject.toml"}


def test_bad_requirements_fail_fast_with_the_resolvers_message_and_spare_others(lattice, script_dir):
    cases = {
        "typo": ("reqeusts==2.32.3",),
        "unresolvable": ("six>=99",),
        "conflict": ("requests==2.32.3", "urllib3<1.21"),
    }
    names = {}
    for label, pins in cases.items():
        d = script_dir / label
        d.mkdir()
        (d / "requirements.txt").write_text(local_requirements(*pins))
        write_script(d, "train.py", "print('should not run')\n")
        names[label] = lattice.run("run", d / "train.py").stdout.strip()
    good = script_dir / "good"
    good.mkdir()
    (good / "requirements.txt").write_text(local_requirements("six==1.16.0", "attrs==24.2.0"))
    write_script(good, "show.py", SHOW)
    good_name = lattice.run("run", good / "show.py").stdout.strip()
    for label, name in names.items():
        started = time.monotonic()
        doc = lattice.wait_state(name, {"succeeded", "failed"}, timeout=120)
        assert doc["state"] == "failed", label
        why = doc["experiments"][0]["reason"]
        assert why.startswith("environment build failed"), (label, why)
        text = logs(lattice, name)
        assert "should not run" not in text
        assert "environment build failed" in text
        bad_name = cases[label][-1].split("<")[0].split(">")[0].split("=")[0]
        assert bad_name in text, (label, text)  # the resolver names what it could not satisfy
        assert time.monotonic() - started < 60
    table = lattice.run("status", names["typo"]).stdout
    assert "environment build failed" in table
    doc = lattice.wait_state(good_name, {"succeeded", "failed"}, timeout=120)
    assert doc["state"] == "succeeded"
    assert lattice.json("env", "list")["environments"], "the good environment is kept"


def test_index_credentials_never_appear_in_logs_api_or_process_list(lattice, script_dir, tmp_path):
    secret = "s3cr3t-Pa55w0rd"
    with PackageIndex(WHEELS, user="alice", password=secret) as index:
        authed = index.url_with_credentials
        assert secret in authed
        ok = script_dir / "ok"
        ok.mkdir()
        (ok / "requirements.txt").write_text(f"--index-url {authed}\nsix==1.16.0\nattrs==24.2.0\n")
        write_script(ok, "show.py", SHOW)
        bad = script_dir / "bad"
        bad.mkdir()
        # A package the first build did not fetch (uv caches by URL without
        # credentials), so the wrong password really meets the index.
        (bad / "requirements.txt").write_text(
            f"--index-url {authed.replace(secret, secret + 'x')}\npackaging==24.1\n")
        write_script(bad, "train.py", "print('x')\n")
        seen_ps = []
        names = [lattice.run("run", ok / "show.py").stdout.strip(),
                 lattice.run("run", "--setup", f"echo using {authed}", bad / "train.py").stdout.strip()]
        for name in names:
            deadline = time.monotonic() + 120
            while lattice.json("status", name)["state"] not in ("succeeded", "failed"):
                seen_ps.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert lattice.json("status", names[0])["state"] == "succeeded"
        assert "versions 1.16.0 24.2.0" in logs(lattice, names[0])
        assert lattice.json("status", names[1])["state"] == "failed"
        assert index.requests_with_good_auth > 0  # the credentials were really used
    shown = []
    for name in names:
        shown.append(logs(lattice, name))
        shown.append(lattice.run("status", name).stdout)
        shown.append(json.dumps(lattice.json("status", name)))
    shown.append(json.dumps(lattice.json("status")))
    shown += seen_ps
    for f in lattice.home.rglob("*.log"):
        shown.append(f.read_text(errors="replace"))
    everything = "\n".join(shown)
    assert secret not in everything
    assert "****@127.0.0.1" in everything  # masked, not dropped: the user sees which index


def test_setup_runs_once_per_environment_under_a_heading_and_its_failure_is_reported(lattice, script_dir):
    (script_dir / "requirements.txt").write_text(local_requirements("six==1.16.0"))
    write_script(script_dir, "train.py", "import os; print('env', os.environ['VIRTUAL_ENV'] != '')\n")
    setup = "echo SETUP-RAN; python -c 'import six; print(\"six\", six.__version__)'"
    first = lattice.run("run", "--follow", "--setup", setup, script_dir / "train.py", timeout=180).stdout
    lines = first.splitlines()
    heading = next(i for i, line in enumerate(lines) if "set-up" in line)
    assert lines.index("SETUP-RAN") > heading
    assert "six 1.16.0" in first and "env True" in first
    second = lattice.run("run", "--follow", "--setup", setup, script_dir / "train.py").stdout
    assert "SETUP-RAN" not in second and "ready (cached)" in second
    # A failing set-up fails the experiment with its output, and says so.
    proc = lattice.run("run", "--follow", "--setup", "echo boom-output; exit 3", script_dir / "train.py",
                       check=False, timeout=180)
    assert proc.returncode != 0
    assert "boom-output" in proc.stdout
    name = lattice.json("status")["runs"][-1]["name"]
    why = reason(lattice, name)
    assert why.startswith("environment build failed") and "exit 3" in why, why


def test_cancel_stops_a_build_and_prune_keeps_environments_in_use(lattice, script_dir):
    slow = script_dir / "slow"
    slow.mkdir()
    write_script(slow, "train.py", "print('never')\n")
    name = lattice.run("run", "--setup", "echo building; sleep 60", slow / "train.py").stdout.strip()
    wait_for(lambda: "building the environment" in reason(lattice, name), timeout=60, what="the build to start")
    started = time.monotonic()
    lattice.run("cancel", name)
    doc = lattice.wait_state(name, {"cancelled", "failed"}, timeout=30)
    assert doc["state"] == "cancelled"
    assert time.monotonic() - started < 10
    assert lattice.json("env", "list")["environments"] == []  # the half-built one is never kept

    used = script_dir / "used"
    used.mkdir()
    (used / "requirements.txt").write_text(local_requirements("six==1.16.0"))
    write_script(used, "train.py", "import time; print('up', flush=True); time.sleep(30)\n")
    unused = script_dir / "unused"
    unused.mkdir()
    (unused / "requirements.txt").write_text(local_requirements("attrs==24.2.0"))
    write_script(unused, "train.py", "print('done')\n")
    lattice.run("run", "--follow", unused / "train.py", timeout=180)
    running = lattice.run("run", used / "train.py").stdout.strip()
    wait_for(lambda: "up" in logs(lattice, running), timeout=120, what="the long experiment to start")
    assert len(lattice.json("env", "list")["environments"]) == 2
    pruned = lattice.json("env", "prune")
    assert len(pruned["removed"]) == 1 and pruned["freed_bytes"] > 0
    left = lattice.json("env", "list")["environments"]
    assert len(left) == 1
    assert "removed 0 environments" in lattice.run("env", "prune").stdout
    lattice.run("cancel", running)
    lattice.wait_state(running, {"cancelled"}, timeout=60)
    assert "removed 1 environment" in lattice.run("env", "prune").stdout
    assert lattice.json("env", "list")["environments"] == []
