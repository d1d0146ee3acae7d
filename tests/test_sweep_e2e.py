"""Sweeps end to end: one command becomes many experiments, placed on a
local agent with simulated GPUs, each with its own CUDA_VISIBLE_DEVICES."""
import json
import time

import pytest

from harness import Lattice, script_dir, wait_for, write_script  # noqa: F401


@pytest.fixture
def gpu_cluster(tmp_path):
    """A server and one agent offering 8 simulated GPUs and 16 CPUs."""
    with Lattice(tmp_path / "home").server_and_agent("--simulate-gpus", "8", "--cpus", "16") as lat:
        yield lat


def test_dry_run_lists_points_and_totals_and_starts_nothing(tmp_path, script_dir):
    lat = Lattice(tmp_path / "home")
    script = write_script(script_dir, "train.py", "print(1)\n")
    doc = json.loads(lat.run("run", "--dry-run", "--json", "--gpus", "4", script, "--lr", "[0.1, 0.01]",
                             "--opt=['adam', 'sgd']", "--name", "a b").stdout)
    assert [e["args"] for e in doc["experiments"]] == [
        ["--lr", "0.1", "--opt=adam", "--name", "a b"], ["--lr", "0.1", "--opt=sgd", "--name", "a b"],
        ["--lr", "0.01", "--opt=adam", "--name", "a b"], ["--lr", "0.01", "--opt=sgd", "--name", "a b"]]
    assert [e["id"] for e in doc["experiments"]] == ["0", "1", "2", "3"]
    assert doc["total"] == {"experiments": 4, "nodes": 4, "gpus": 16, "cpus": 4}
    gang = json.loads(lat.run("run", "--dry-run", "--json", "--nodes", "2", "--gpus", "4", script, "--lr",
                              "[0.1, 0.01]").stdout)
    assert gang["total"] == {"experiments": 2, "nodes": 4, "gpus": 16, "cpus": 4}
    grid = json.loads(lat.run("run", "--dry-run", "--json", "--instance_type", "8_v100_32gb", "--gpus", "16",
                              script).stdout)
    assert grid["total"] == {"experiments": 1, "nodes": 2, "gpus": 16, "cpus": 2}
    odd = lat.run("run", "--dry-run", "--instance_type", "8_v100_32gb", "--gpus", "12", script, check=False)
    assert odd.returncode != 0 and "ask for 8, 16, 24" in odd.stderr
    assert "2 experiments × 2 nodes × 4 GPUs = 16 GPUs" in lat.run(
        "run", "--dry-run", "--nodes", "2", "--gpus", "4", script, "--lr", "[0.1, 0.01]").stdout
    text = lat.run("run", "--dry-run", "--gpus", "4", script, "--lr", "[0.1, 0.01]").stdout
    assert "2 experiments × 4 GPUs = 8 GPUs" in text
    assert not (lat.home / "server.json").exists()  # nothing started, not even a server


def test_malformed_expression_points_at_the_column(tmp_path, script_dir):
    lat = Lattice(tmp_path / "home")
    script = write_script(script_dir, "train.py", "print(1)\n")
    proc = lat.run("run", "--dry-run", script, "--lr", "[0.1, 0.01", check=False)
    assert proc.returncode == 64
    lines = proc.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("argument 2: [0.1, 0.01"))
    caret = lines[at + 1]
    assert caret.index("^") == len("argument 2: [0.1, 0.01")
    assert "expected" in caret


def test_sweep_over_the_limit_is_refused_before_anything_is_stored(tmp_path, script_dir):
    lat = Lattice(tmp_path / "home")
    script = write_script(script_dir, "train.py", "print(1)\n")
    proc = lat.run("run", script, "--a", "range(1000)", "--b", "range(1000)", check=False)
    assert proc.returncode != 0 and "1,000,000" in proc.stderr and "10,000" in proc.stderr.replace("10000", "10,000")
    assert not (lat.home / "server.json").exists()


def test_eight_gpus_run_eight_experiments_and_queue_the_ninth(gpu_cluster, script_dir, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    script = write_script(script_dir, "hold.sh", (
        "echo \"gpu=$CUDA_VISIBLE_DEVICES\"\n"
        f"while [ ! -e {release}/$LATTICE_EXPERIMENT ]; do sleep 0.05; done\n"))
    name = gpu_cluster.run("run", "--gpus", "1", "--cpus", "0.1", script, "--i", "range(9)").stdout.strip()

    def eight_running():
        doc = gpu_cluster.json("status", name)
        states = [e["state"] for e in doc["experiments"]]
        return doc if states.count("running") == 8 and states.count("queued") == 1 else None
    doc = wait_for(eight_running, timeout=30, what="8 running and 1 queued")
    gpus = sorted(g for e in doc["experiments"] if e["state"] == "running" for g in e["gpus"])
    assert gpus == list(range(8))
    queued = next(e for e in doc["experiments"] if e["state"] == "queued")
    assert queued["id"] == "8" and queued["reason"].startswith("waiting: 0 of 1 GPU free on 1 node")
    assert queued["params"] == {"i": "8"}
    seen = {int(e["id"]): wait_for(lambda e=e: gpu_cluster.run("logs", f"{name}/{e['id']}").stdout, what="gpu line")
            for e in doc["experiments"] if e["state"] == "running"}
    assert sorted(int(v.strip().split("=")[1]) for v in seen.values()) == list(range(8))
    # One finishes: the ninth starts on the GPU it freed.
    freed = doc["experiments"][3]["gpus"][0]
    (release / "3").touch()
    wait_for(lambda: gpu_cluster.json("status", name)["experiments"][8]["state"] == "running", timeout=20,
             what="the ninth to start")
    assert gpu_cluster.json("status", name)["experiments"][8]["gpus"] == [freed]
    text = gpu_cluster.run("status", name).stdout
    assert "I" in text.splitlines()[-10].upper()  # the swept parameter is a column
    for i in range(9):
        (release / str(i)).touch()
    doc = gpu_cluster.wait_state(name, "succeeded", timeout=30)
    assert all(e["exit_code"] == 0 for e in doc["experiments"])


def test_cancel_run_cancels_queued_and_running(gpu_cluster, script_dir):
    script = write_script(script_dir, "sleep.sh", "sleep 300\n")
    name = gpu_cluster.run("run", "--gpus", "4", "--cpus", "0.1", "--grace", "1s", script,
                           "--i", "range(3)").stdout.strip()
    wait_for(lambda: [e["state"] for e in gpu_cluster.json("status", name)["experiments"]].count("running") == 2,
             timeout=20, what="two running")
    gpu_cluster.run("cancel", name)
    doc = gpu_cluster.wait_state(name, "cancelled", timeout=30)
    assert [e["state"] for e in doc["experiments"]] == ["cancelled"] * 3


def test_config_file_with_flags_overriding_it(tmp_path, script_dir):
    lat = Lattice(tmp_path / "home")
    write_script(script_dir, "train.py", "print(1)\n")
    config = script_dir / "sweep.yaml"
    config.write_text("script: train.py\nargs: ['--epochs', '2']\nparameters:\n  lr: [0.1, 0.01]\n"
                      "  opt: ['adam', 'sgd']\nresources: {gpus: 2}\n")
    doc = json.loads(lat.run("run", "--config", config, "--dry-run", "--json").stdout)
    assert len(doc["experiments"]) == 4 and doc["total"]["gpus"] == 8
    assert doc["experiments"][0]["args"] == ["--epochs", "2", "--lr", "0.1", "--opt", "adam"]
    doc = json.loads(lat.run("run", "--config", config, "--gpus", "1", "--strategy", "random_search",
                             "--trials", "2", "--seed", "3", "--dry-run", "--json").stdout)
    assert len(doc["experiments"]) == 2 and doc["total"]["gpus"] == 2 and doc["seed"] == 3
    config.write_text("parameters:\n  lr: [0.1\n")
    proc = lat.run("run", "--config", config, "--dry-run", check=False)
    assert proc.returncode == 64 and "sweep.yaml" in proc.stderr


def test_max_parallel_holds_the_rest_of_the_run_back(gpu_cluster, script_dir, tmp_path):
    release = tmp_path / "go"
    script = write_script(script_dir, "hold.sh", f"while [ ! -e {release} ]; do sleep 0.05; done\n")
    name = gpu_cluster.run("run", "--cpus", "0.1", "--max-parallel", "2", script, "--i", "range(5)").stdout.strip()

    def two_running():
        exps = gpu_cluster.json("status", name)["experiments"]
        states = [e["state"] for e in exps]
        return exps if states.count("running") == 2 and states.count("queued") == 3 else None
    exps = wait_for(two_running, timeout=20, what="2 running, 3 queued")
    queued = [e for e in exps if e["state"] == "queued"]
    assert all("max_parallel" in e["reason"] for e in queued), [e["reason"] for e in queued]
    time.sleep(0.5)
    assert [e["state"] for e in gpu_cluster.json("status", name)["experiments"]].count("running") == 2
    release.touch()
    gpu_cluster.wait_state(name, "succeeded", timeout=30)


def test_a_later_small_run_is_not_starved_by_a_big_sweep(gpu_cluster, script_dir, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    hold = write_script(script_dir, "hold.sh",
                        f"while [ ! -e {release}/$LATTICE_RUN-$LATTICE_EXPERIMENT ]; do sleep 0.05; done\n")
    big = gpu_cluster.run("run", "--name", "big", "--gpus", "1", "--cpus", "0.1", hold, "--i", "range(20)").stdout.strip()
    wait_for(lambda: [e["state"] for e in gpu_cluster.json("status", big)["experiments"]].count("running") == 8,
             timeout=30, what="the big sweep to fill the GPUs")
    small = gpu_cluster.run("run", "--name", "small", "--gpus", "1", "--cpus", "0.1", hold).stdout.strip()
    assert gpu_cluster.json("status", small)["experiments"][0]["state"] == "queued"
    (release / "big-0").touch()  # one GPU frees: the small run goes next, not big/8
    wait_for(lambda: gpu_cluster.json("status", small)["experiments"][0]["state"] == "running", timeout=20,
             what="the small run to start")
    assert gpu_cluster.json("status", big)["experiments"][8]["state"] == "queued"
    for i in range(20):
        (release / f"big-{i}").touch()
    (release / "small-0").touch()
    gpu_cluster.wait_state(big, "succeeded", timeout=60)
    gpu_cluster.wait_state(small, "succeeded", timeout=30)
