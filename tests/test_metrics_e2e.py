"""Metrics, artifacts and checkpoints end to end: real scripts under the real
binary, a real local server and agent, the SDK, TensorBoard event files and
Lightning. Traffic goes to 127.0.0.1 only."""
import hashlib
import importlib.util
import json
import os
import signal
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

from harness import ROOT, lattice, script_dir, wait_for, write_script  # noqa: F401


def api(lattice, path):
    url = lattice.server_info()["url"]
    with urllib.request.urlopen(url + "/api/v1" + path, timeout=30) as r:
        return json.loads(r.read())


def run_name(proc):
    return proc.stdout.strip().splitlines()[-1]


def metrics_of(lattice, run, exp=0):
    doc = lattice.json("metrics", run)
    return next(e for e in doc["experiments"] if e["experiment"] == exp)["metrics"]


# --- metrics in --------------------------------------------------------------------------

def test_json_lines_keep_nan_and_inf_and_a_bad_line_is_reported_with_its_number(lattice, script_dir):
    script = write_script(script_dir, "jl.py", (
        "import json, os\n"
        "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
        "    for i in range(10):\n"
        "        f.write(json.dumps({'step': i, 'loss': 1.0 / (i + 1)}) + '\\n')\n"
        "    f.write('{\"step\": 10, \"loss\": NaN, \"grad\": Infinity, \"low\": -Infinity}\\n')\n"
        "    f.write('{\"step\": 11, \"loss\": oops}\\n')\n"
        "    f.write(json.dumps({'step': 12, 'loss': 0.01}) + '\\n')\n"))
    run = run_name(lattice.run("run", script))
    lattice.wait_state(run, "succeeded")
    m = metrics_of(lattice, run)
    assert m["loss"]["count"] == 12  # lines 1-11 and 13; line 12 was malformed
    assert m["loss"]["last"] == 0.01 and m["loss"]["last_step"] == 12
    assert m["loss"]["nan_count"] == 1 and m["loss"]["max"] == 1.0
    assert m["grad"]["last"] == "Infinity" and m["low"]["last"] == "-Infinity"
    log = lattice.run("logs", run).stdout
    assert "metrics.jsonl line 12" in log, log
    table = lattice.run("metrics", run, "--key", "grad", "--key", "loss").stdout
    assert "inf" in table


def test_sweep_metrics_table_answers_which_learning_rate_won(lattice, script_dir):
    script = write_script(script_dir, "lr.py", (
        "import json, os, sys\n"
        "lr = float(sys.argv[sys.argv.index('--lr') + 1])\n"
        "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
        "    for step in range(5):\n"
        "        f.write(json.dumps({'step': step, 'val_acc': lr * step / 4}) + '\\n')\n"))
    run = run_name(lattice.run("run", script, "--lr", "[0.1, 0.9, 0.5]"))
    lattice.wait_state(run, "succeeded")
    doc = lattice.json("metrics", run, "--sort", "val_acc:max", "--desc")
    order = [e["params"]["lr"] for e in doc["experiments"]]
    assert order == ["0.9", "0.5", "0.1"], doc
    table = lattice.run("metrics", run, "--sort", "val_acc:max", "--desc").stdout.splitlines()
    assert "LR" in table[0].upper() and table[1].split()[0] == "1", table  # experiment 1 has lr 0.9


def test_sdk_logs_reach_the_server_and_series_are_downsampled_keeping_extremes(lattice, script_dir):
    script = write_script(script_dir, "sdk.py", (
        "import lattice\n"
        "for i in range(20000):\n"
        "    lattice.log({'loss': 5.0 if i == 12345 else (-3.0 if i == 777 else 1.0), 'nested': {'a': i}}, step=i)\n"))
    run = run_name(lattice.run("run", script))
    lattice.wait_state(run, "succeeded")
    m = metrics_of(lattice, run)
    assert m["loss"]["count"] == 20000 and m["nested/a"]["last"] == 19999
    series = api(lattice, f"/runs/{run}/metrics/series?key=loss&max_points=200")["series"][0]
    assert len(series["values"]) <= 200 and series["total"] == 20000
    assert 5.0 in series["values"] and -3.0 in series["values"]
    assert series["steps"][series["values"].index(5.0)] == 12345
    lttb = api(lattice, f"/runs/{run}/metrics/series?key=loss&max_points=200&method=lttb")["series"][0]
    assert len(lttb["values"]) <= 200 and 5.0 in lttb["values"]


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_tensorboard_event_files_are_read_live_and_a_bad_record_is_skipped(lattice, script_dir):
    # Writes with torch's SummaryWriter (simple_value and the tensor form),
    # then a record whose data CRC is wrong, then more good records.
    script = write_script(script_dir, "tb.py", (
        "import os, struct, time\n"
        "from torch.utils.tensorboard import SummaryWriter\n"
        "w = SummaryWriter('runs/x')\n"
        "for i in range(5):\n"
        "    w.add_scalar('train/loss', 1.0 / (i + 1), i)\n"
        "    w.add_scalar('tensor_form', float(i), i, new_style=True)\n"
        "w.flush()\n"
        "path = os.path.join('runs/x', [f for f in os.listdir('runs/x') if 'tfevents' in f][0])\n"
        "with open(path, 'ab') as f:\n"
        "    f.write(bytes.fromhex(os.environ['BAD_RECORD']))\n"
        "    f.flush()\n"
        "for i in range(5, 8):\n"
        "    w.add_scalar('train/loss', 1.0 / (i + 1), i)\n"
        "w.flush()\n"
        "print('written', flush=True)\n"
        "time.sleep(float(os.environ.get('HOLD', '6')))\n"))
    payload = b"not an event at all"
    length = struct.pack("<Q", len(payload))
    bad = length + struct.pack("<I", masked(crc32c(length))) + payload + struct.pack("<I", 12345)
    run = run_name(lattice.run("run", "--env", f"BAD_RECORD={bad.hex()}", script))
    # Live: the points arrive while the script still sleeps.
    wait_for(lambda: metrics_of(lattice, run).get("train/loss", {}).get("count") == 8, timeout=30,
             what="event file scalars")
    assert lattice.json("status", run)["experiments"][0]["state"] == "running"
    m = metrics_of(lattice, run)
    assert m["tensor_form"]["count"] == 5 and m["tensor_form"]["last"] == 4.0
    lattice.wait_state(run, "succeeded")
    log = lattice.run("logs", run).stdout
    assert "CRC" in log, log


def test_metrics_stream_delivers_new_points_while_the_run_goes(lattice, script_dir):
    script = write_script(script_dir, "slow.py", (
        "import json, os, time\n"
        "time.sleep(2)\n"
        "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
        "    for i in range(3):\n"
        "        f.write(json.dumps({'step': i, 'live': i * 10}) + '\\n'); f.flush(); time.sleep(0.5)\n"))
    run = run_name(lattice.run("run", script))
    url = lattice.server_info()["url"] + f"/api/v1/runs/{run}/metrics/stream?key=live"
    got = []

    def follow():
        with urllib.request.urlopen(url, timeout=30) as r:
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    got.extend(json.loads(line[6:])["values"])
                if len(got) >= 3:
                    return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    t.join(30)
    assert got[:3] == [0, 10, 20]


# --- artifacts and checkpoints ----------------------------------------------------------

def test_artifacts_are_uploaded_deduplicated_listed_and_downloaded_and_links_refused(lattice, script_dir, tmp_path):
    script = write_script(script_dir, "art.py", (
        "import os, sys\n"
        "a = os.environ['LATTICE_ARTIFACTS_DIR']\n"
        "os.makedirs(a + '/plots/deep', exist_ok=True)\n"
        "open(a + '/plots/deep/curve.txt', 'w').write('exp ' + os.environ['LATTICE_EXPERIMENT'])\n"
        "open(a + '/shared.bin', 'wb').write(bytes(range(256)) * (12 * 4096))\n"  # 12 MiB: two chunks
        "os.symlink('/etc/passwd', a + '/evil')\n"
        "os.symlink('shared.bin', a + '/inner-link')\n"))
    run = run_name(lattice.run("run", script, "[1, 2]"))
    lattice.wait_state(run, "succeeded")
    arts = api(lattice, f"/runs/{run}/artifacts")["artifacts"]
    paths = sorted((a["experiment"], a["path"]) for a in arts)
    assert paths == [(0, "plots/deep/curve.txt"), (0, "shared.bin"), (1, "plots/deep/curve.txt"), (1, "shared.bin")]
    shared = {a["sha256"] for a in arts if a["path"] == "shared.bin"}
    assert len(shared) == 1  # same content, one blob
    blob_dir = lattice.home / "server" / "blobs" / "sha256"
    assert (blob_dir / shared.pop()).stat().st_size == 12 << 20
    log = lattice.run("logs", f"{run}/0").stdout
    assert "evil -> /etc/passwd" in log and "inner-link" in log
    out = tmp_path / "dl"
    lattice.run("artifacts", run, "--download", out)
    assert (out / "1" / "plots" / "deep" / "curve.txt").read_text() == "exp 1"
    data = (out / "0" / "shared.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == next(a["sha256"] for a in arts if a["path"] == "shared.bin")
    assert not (out / "0" / "evil").exists()


def test_a_checkpoint_still_being_written_is_not_kept_until_it_is_complete(lattice, script_dir):
    script = write_script(script_dir, "ck.py", (
        "import os, time\n"
        "c = os.environ['LATTICE_CHECKPOINT_DIR']\n"
        "f = open(c + '/model.ckpt', 'wb')\n"
        "f.write(b'x' * 1000); f.flush()\n"
        "print('half', flush=True)\n"
        "time.sleep(5)\n"
        "f.write(b'y' * 1000); f.close()\n"
        "print('closed', flush=True)\n"
        "time.sleep(5)\n"))
    run = run_name(lattice.run("run", script))
    wait_for(lambda: "half" in lattice.run("logs", run).stdout, what="half-written checkpoint")
    time.sleep(3.5)  # well past the settle time: the file is unchanged but still open
    assert api(lattice, f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"] == []
    wait_for(lambda: api(lattice, f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"], timeout=10,
             what="checkpoint after close")
    ck = api(lattice, f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"]
    assert [(c["path"], c["size"]) for c in ck] == [("model.ckpt", 2000)]
    assert lattice.json("status", run)["experiments"][0]["state"] == "running"  # kept during the run


def test_a_new_attempt_starts_from_the_newest_complete_checkpoint(lattice, script_dir):
    script = write_script(script_dir, "resume.py", (
        "import os, time\n"
        "c = os.environ['LATTICE_CHECKPOINT_DIR']\n"
        "print('attempt', os.environ['LATTICE_ATTEMPT'], sorted(os.listdir(c)), flush=True)\n"
        "if os.environ['LATTICE_ATTEMPT'] == '1':\n"
        "    for step in (1, 2):\n"
        "        os.makedirs(f'{c}/step-{step}')\n"
        "        open(f'{c}/step-{step}/model.pt', 'w').write(f'weights {step}')\n"
        "        open(f'{c}/step-{step}/optim.pt', 'w').write(f'optim {step}')\n"
        "        time.sleep(3)\n"
        "    time.sleep(300)\n"
        "else:\n"
        "    print(open(c + '/step-2/model.pt').read(), open(c + '/step-2/optim.pt').read())\n"))
    run = run_name(lattice.run("run", "--max-restarts", "1", script))
    wait_for(lambda: len(api(lattice, f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"]) == 4, timeout=30,
             what="both checkpoints uploaded")
    os.kill(lattice.agent_pid(), signal.SIGKILL)
    wait_for(lambda: lattice.json("status", run)["experiments"][0]["state"] == "queued", timeout=15,
             what="requeue")
    url = lattice.server_info()["url"]
    agent = lattice.popen("--server", url, "agent", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lattice.wait_state(run, "succeeded", timeout=60)
        out = lattice.run("logs", run).stdout
        assert "restored checkpoint step-2 (2 files" in out, out
        assert "attempt 2 ['step-2']" in out and "weights 2 optim 2" in out, out
    finally:
        agent.terminate()
        agent.wait(30)


def test_a_full_disk_refuses_the_upload_and_keeps_what_was_acknowledged(lattice, script_dir):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    blobs = lattice.home / "server" / "blobs"
    blobs.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(blobs)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        lattice.run("server", "start")
        url = lattice.server_info()["url"]
        # The started agent is replaced by one with a short wait for uploads
        # (once it is up: it writes its pid file when it starts).
        wait_for(lambda: (lattice.home / "agent" / "agent.pid").exists(), what="the agent's pid file")
        subprocess.run(["pkill", "-f", f"{lattice.home}/agent"], check=False)
        os.kill(lattice.agent_pid(), signal.SIGTERM)
        wait_for(lambda: not os.path.exists(f"/proc/{lattice.agent_pid()}/stat") or
                 open(f"/proc/{lattice.agent_pid()}/stat").read().split(")")[-1].split()[0] == "Z",
                 timeout=20, what="agent stop")
        agent = lattice.popen("--server", url, "agent", "--final-upload-timeout", "3s",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            script = write_script(script_dir, "full.py", (
                "import json, os\n"
                "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
                "    for i in range(100): f.write(json.dumps({'step': i, 'kept': i}) + '\\n')\n"
                "a = os.environ['LATTICE_ARTIFACTS_DIR']\n"
                "open(a + '/small.txt', 'w').write('fits')\n"
                "open(a + '/huge.bin', 'wb').write(os.urandom(16 << 20))\n"))
            run = run_name(lattice.run("run", script))
            lattice.wait_state(run, "succeeded", timeout=60)
            assert metrics_of(lattice, run)["kept"]["count"] == 100
            arts = [a["path"] for a in api(lattice, f"/runs/{run}/artifacts")["artifacts"]]
            assert arts == ["small.txt"]
            log = lattice.run("logs", run).stdout
            assert "not uploaded yet" in log and "disk is full" in log, log
            assert api(lattice, "/health")["status"] == "ok"
        finally:
            agent.terminate()
            agent.wait(30)
    finally:
        lattice.stop()
        subprocess.run(["umount", "-l", str(blobs)], check=False)


def test_lightning_trains_with_the_lattice_logger_and_its_tensorboard_logger(lattice):
    # Not imported here: with Debian's torch it needs the example's compat shim.
    if importlib.util.find_spec("pytorch_lightning") is None:
        pytest.skip("pytorch_lightning is not installed")
    example = ROOT / "examples" / "lightning" / "train.py"
    proc = lattice.run("run", "--follow", example, "--epochs", "1", "--logger", "both", timeout=300)
    assert "final val_acc=" in proc.stdout, proc.stdout
    run = lattice.json("status")["runs"][0]["name"]
    m = metrics_of(lattice, run)
    # LatticeLogger's lines and the TensorBoard events of the same training.
    assert any(k.startswith("train") or k.startswith("val") for k in m), m
    arts = api(lattice, f"/runs/{run}/artifacts?kind=all")["artifacts"]
    assert any(a["kind"] == "checkpoint" and a["path"].endswith(".ckpt") for a in arts), arts
    assert any("tfevents" in a["path"] for a in arts), arts


def test_server_killed_while_metrics_and_a_large_artifact_flow_loses_and_doubles_nothing(lattice, script_dir):
    # 3,000 points over ~3 s and a 40 MiB artifact written around a SIGKILL
    # of the server and its restart: every point is there exactly once and
    # the artifact arrives whole (the agent keeps both in its spool and
    # resumes from what the restarted server has).
    script = write_script(script_dir, "steady.py", (
        "import json, os, time\n"
        "a = os.environ['LATTICE_ARTIFACTS_DIR']\n"
        "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
        "    for i in range(3000):\n"
        "        f.write(json.dumps({'step': i, 'v': i}) + '\\n')\n"
        "        if i % 100 == 0:\n"
        "            f.flush(); time.sleep(0.1)\n"
        "        if i == 1500:\n"
        "            open(a + '/big.bin', 'wb').write(os.urandom(40 << 20))\n"))
    run = run_name(lattice.run("run", script))
    wait_for(lambda: metrics_of(lattice, run).get("v", {}).get("count", 0) > 300, timeout=30, what="some points")
    os.kill(lattice.server_info()["pid"], signal.SIGKILL)
    time.sleep(1.5)  # the script goes on; the agent keeps everything in its spool
    lattice.run("server", "start")
    lattice.wait_state(run, "succeeded", timeout=90)
    m = metrics_of(lattice, run)["v"]
    assert (m["count"], m["min"], m["max"], m["last"]) == (3000, 0, 2999, 2999)
    series = api(lattice, f"/runs/{run}/metrics/series?key=v&max_points=5000")["series"][0]
    assert series["values"] == list(range(3000))
    big = [a for a in api(lattice, f"/runs/{run}/artifacts")["artifacts"] if a["path"] == "big.bin"]
    assert len(big) == 1 and big[0]["size"] == 40 << 20
    blob = lattice.home / "server" / "blobs" / "sha256" / big[0]["sha256"]
    h = hashlib.sha256()
    with open(blob, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == big[0]["sha256"]


def test_agent_killed_while_metrics_flow_ships_every_point_once_after_it_restarts(lattice, script_dir):
    script = write_script(script_dir, "steady2.py", (
        "import json, os, time\n"
        "with open(os.environ['LATTICE_METRICS_FILE'], 'a') as f:\n"
        "    for i in range(100000):\n"
        "        f.write(json.dumps({'step': i, 'v': i}) + '\\n')\n"
        "        if i % 50 == 0:\n"
        "            f.flush(); time.sleep(0.01)\n"))
    run = run_name(lattice.run("run", script))
    wait_for(lambda: metrics_of(lattice, run).get("v", {}).get("count", 0) > 500, timeout=30, what="some points")
    os.kill(lattice.agent_pid(), signal.SIGKILL)  # the script dies with it, mid-stream
    lattice.wait_state(run, "failed", timeout=20)
    url = lattice.server_info()["url"]
    agent = lattice.popen("--server", url, "agent", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The new agent finds the old attempt's spool and ships what is left.
        def settled():
            a = metrics_of(lattice, run)["v"]["count"]
            time.sleep(1.5)
            return a == metrics_of(lattice, run)["v"]["count"] and a
        n = wait_for(settled, timeout=30, what="the recovered points")
        series = api(lattice, f"/runs/{run}/metrics/series?key=v&max_points=1000000")["series"][0]
        assert series["values"] == list(range(n)), "a point lost or sent twice"
        assert series["steps"] == list(range(n))
    finally:
        agent.terminate()
        agent.wait(30)
