"""`lattice run` end to end on one machine: the real binary, a real local
server and agent started on first use, real processes."""
import json
import os
import re
import signal
import subprocess
import time

from harness import Lattice, lattice, pid_alive, script_dir, terminate, wait_for, write_script  # noqa: F401

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def test_run_follow_streams_output_and_exits_with_script_code(lattice, script_dir):
    script = write_script(script_dir, "hello.py", "import sys\nprint('hello from lattice')\nsys.exit(0)\n")
    proc = lattice.run("run", "--follow", script)
    assert proc.stdout == "hello from lattice\n"
    failing = write_script(script_dir, "fail.py", "import sys\nprint('bad'); sys.exit(3)\n")
    proc = lattice.run("run", "--follow", failing, check=False)
    assert proc.returncode == 3
    assert proc.stdout == "bad\n"


def test_run_without_follow_returns_generated_name_at_once(lattice, script_dir):
    script = write_script(script_dir, "slow.sh", "sleep 2; echo done\n")
    lattice.run("server", "start")
    started = time.monotonic()
    name = lattice.run("run", script).stdout.strip()
    assert time.monotonic() - started < 1.5
    assert NAME_RE.match(name), name
    doc = lattice.wait_state(name, "succeeded")
    assert doc["name"] == name


def test_status_json_has_documented_shape(lattice, script_dir):
    script = write_script(script_dir, "ok.sh", "echo ok\n")
    name = lattice.run("run", "--name", "shape-check", "--description", "d", script).stdout.strip()
    assert name == "shape-check"
    doc = lattice.wait_state(name, "succeeded")
    for key in ("name", "state", "created_at", "experiments"):
        assert key in doc
    exp = doc["experiments"][0]
    for key in ("id", "state", "args", "exit_code", "attempts", "node"):
        assert key in exp
    assert exp["id"] == "0" and exp["state"] == "succeeded" and exp["exit_code"] == 0 and exp["attempts"] == 1
    runs = lattice.json("status")["runs"]
    row = next(r for r in runs if r["name"] == name)
    assert row["state"] == "succeeded" and row["experiments"] == 1
    nodes = lattice.json("nodes")["nodes"]
    assert nodes and {"id", "hostname", "cpus", "memory_bytes", "gpus", "state"} <= set(nodes[0])


def test_arguments_reach_the_script_exactly(lattice, script_dir):
    script = write_script(script_dir, "args.py", "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    args = ["plain", "with space", "it's \"quoted\"", "ünïcødé ✓", "", "--flag=a b", "$HOME", "*"]
    proc = lattice.run("run", "--follow", script, *args)
    assert json.loads(proc.stdout) == args


def test_shell_and_executable_scripts_run(lattice, script_dir):
    sh = write_script(script_dir, "x.sh", "echo \"bash $BASH_VERSION\" | cut -c1-4\n")
    assert lattice.run("run", "--follow", sh).stdout == "bash\n"
    exe = write_script(script_dir, "tool", "#!/bin/sh\necho exe \"$1\"\n", executable=True)
    assert lattice.run("run", "--follow", exe, "arg").stdout == "exe arg\n"


def test_environment_of_an_experiment(lattice, script_dir):
    script = write_script(script_dir, "env.py", (
        "import json, os\n"
        "keys = ['LATTICE_RUN','LATTICE_EXPERIMENT','LATTICE_ATTEMPT','LATTICE_ARTIFACTS_DIR',"
        "'LATTICE_CHECKPOINT_DIR','LATTICE_METRICS_FILE','MASTER_ADDR','MASTER_PORT','WORLD_SIZE','RANK',"
        "'LOCAL_RANK','LOCAL_WORLD_SIZE','NODE_RANK','GROUP_RANK','CUDA_VISIBLE_DEVICES','MY_SECRET']\n"
        "print(json.dumps({k: os.environ.get(k) for k in keys}))\n"))
    proc = lattice.run("run", "--follow", "--name", "env-check", "--env", "MY_SECRET=hunter2-xyz", script)
    env = json.loads(proc.stdout)
    assert env["LATTICE_RUN"] == "env-check" and env["LATTICE_EXPERIMENT"] == "0" and env["LATTICE_ATTEMPT"] == "1"
    assert env["WORLD_SIZE"] == "1" and env["RANK"] == "0" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["MY_SECRET"] == "hunter2-xyz"
    assert os.path.isdir(env["LATTICE_CHECKPOINT_DIR"])
    # The secret's value never appears in API answers.
    assert "hunter2-xyz" not in lattice.run("status", "env-check", "--json").stdout
    assert "MY_SECRET" in lattice.json("status", "env-check")["env_names"]


def test_simulated_gpus_are_handed_out_through_cuda_visible_devices(lattice, script_dir, tmp_path):
    home = tmp_path / "gpuhome"
    gl = Lattice(home)
    try:
        proc = gl.popen("server")
        wait_for(lambda: (home / "server.json").exists(), what="server.json")
        url = gl.server_info()["url"]
        agent = gl.popen("--server", url, "agent", "--simulate-gpus", "2")
        gl.wait_node()
        script = write_script(script_dir, "gpu.sh", "echo \"gpus=$CUDA_VISIBLE_DEVICES\"\n")
        out = gl.run("run", "--follow", "--gpus", "2", script).stdout
        assert out == "gpus=0,1\n"
        refused = gl.run("run", "--gpus", "3", script, check=False)
        assert refused.returncode != 0 and "asks for 3 GPUs; the largest node has 2" in refused.stderr
        agent.terminate()
        agent.wait(30)
        proc.terminate()
        proc.wait(30)
    finally:
        gl.stop()


def test_missing_script_is_refused_and_nothing_is_created(lattice, script_dir):
    lattice.run("server", "start")
    proc = lattice.run("run", script_dir / "nope.py", check=False)
    assert proc.returncode == 66
    assert "nope.py" in proc.stderr and "does not exist" in proc.stderr
    unreadable = write_script(script_dir, "secret.py", "print(1)\n")
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        proc = lattice.run("run", unreadable, check=False)
        assert proc.returncode != 0
    assert lattice.json("status")["runs"] == []


def test_invalid_name_and_flags_are_usage_errors(lattice, script_dir):
    script = write_script(script_dir, "ok.sh", "echo ok\n")
    proc = lattice.run("run", "--name", "Bad_Name", script, check=False)
    assert proc.returncode == 64 and "invalid run name 'Bad_Name'" in proc.stderr
    proc = lattice.run("run", "--memory", "lots", script, check=False)
    assert proc.returncode == 64 and "'lots' is not a size" in proc.stderr
    proc = lattice.run("run", "--env", "NOEQUALS", script, check=False)
    assert proc.returncode == 64
    proc = lattice.run("status", "no-such-run", check=False)
    assert proc.returncode == 66 and "no run named 'no-such-run'" in proc.stderr
    assert lattice.json("status")["runs"] == []


def test_code_is_snapshotted_at_submit(lattice, script_dir):
    (script_dir / ".gitignore").write_text("ignored.txt\n")
    (script_dir / ".latticeignore").write_text("data/\n")
    (script_dir / "ignored.txt").write_text("x")
    (script_dir / "data").mkdir()
    (script_dir / "data" / "big.bin").write_text("x")
    (script_dir / "helper.py").write_text("VALUE = 'original'\n")
    script = write_script(script_dir, "main.py", (
        "import os, time\n"
        "time.sleep(1.0)\n"
        "import helper\n"
        "print(helper.VALUE, sorted(os.listdir('.')))\n"))
    lattice.run("server", "start")
    name = lattice.run("run", script).stdout.strip()
    (script_dir / "helper.py").write_text("VALUE = 'edited'\n")
    lattice.wait_state(name, "succeeded")
    out = lattice.run("logs", name).stdout
    assert out.startswith("original ")
    assert "ignored.txt" not in out and "data" not in out.replace("'", " ").split()


def test_snapshot_over_the_limit_names_the_largest_files(lattice, script_dir):
    script = write_script(script_dir, "t.py", "print(1)\n")
    with open(script_dir / "huge.bin", "wb") as f:
        f.truncate(300 << 20)  # sparse: big on paper, cheap on disk
    proc = lattice.run("run", script, check=False)
    assert proc.returncode != 0
    assert "huge.bin" in proc.stderr and ".latticeignore" in proc.stderr


def test_logs_tail_and_experiment_target(lattice, script_dir):
    script = write_script(script_dir, "lines.sh", "for i in $(seq 1 50); do echo line $i; done\n")
    name = lattice.run("run", script).stdout.strip()
    lattice.wait_state(name, "succeeded")
    assert lattice.run("logs", f"{name}/0", "--tail", "3").stdout == "line 48\nline 49\nline 50\n"
    assert lattice.run("logs", name).stdout.count("\n") == 50
    assert lattice.run("logs", f"{name}/7", check=False).returncode == 66
    doc = lattice.json("logs", name)
    assert doc["run"] == name and doc["experiments"][0]["log"].count("\n") == 50


def test_cancel_stops_the_whole_process_group(lattice, script_dir):
    script = write_script(script_dir, "sleepy.sh", (
        "sleep 300 &\n"
        "echo \"child $!\"\n"
        "echo \"self $$\"\n"
        "trap 'echo got TERM; exit 143' TERM\n"
        "while true; do sleep 0.1; done\n"))
    name = lattice.run("run", "--grace", "2s", script).stdout.strip()
    out = wait_for(lambda: (o := lattice.run("logs", name).stdout).count("\n") >= 2 and o, what="pids")
    pids = [int(line.split()[1]) for line in out.splitlines()[:2]]
    assert all(pid_alive(p) for p in pids)
    lattice.run("cancel", name)
    doc = lattice.wait_state(name, "cancelled", timeout=20)
    assert doc["experiments"][0]["state"] == "cancelled"
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10, what="processes to end")
    assert "got TERM" in lattice.run("logs", name).stdout


def test_cancel_escalates_to_sigkill_after_grace(lattice, script_dir):
    script = write_script(script_dir, "stubborn.sh", "trap '' TERM\necho \"self $$\"\nwhile true; do sleep 0.1; done\n")
    name = lattice.run("run", "--grace", "1s", script).stdout.strip()
    out = wait_for(lambda: lattice.run("logs", name).stdout, what="pid line")
    pid = int(out.split()[1])
    started = time.monotonic()
    lattice.run("cancel", name)
    lattice.wait_state(name, "cancelled", timeout=20)
    wait_for(lambda: not pid_alive(pid), timeout=10, what="stubborn process to die")
    assert time.monotonic() - started >= 0.9


def test_server_stop_then_next_command_starts_it_again(lattice, script_dir):
    script = write_script(script_dir, "ok.sh", "echo ok\n")
    assert lattice.run("run", "--follow", script).stdout == "ok\n"
    server_pid = lattice.server_info()["pid"]
    agent_pid = lattice.agent_pid()
    proc = lattice.run("server", "stop")
    assert "stopped" in proc.stdout
    assert not pid_alive(server_pid) and not pid_alive(agent_pid)
    assert lattice.run("run", "--follow", script).stdout == "ok\n"
    assert len(lattice.json("status")["runs"]) == 2


def test_help_for_every_subcommand_has_examples(lattice):
    for sub in ("run", "status", "logs", "cancel", "nodes", "server", "agent"):
        proc = lattice.run(sub, "--help")
        assert "Examples:" in proc.stdout, sub
    assert lattice.run("bogus", check=False).returncode == 64


def test_agents_stopped_together_with_their_server_exit_cleanly(tmp_path):
    """SIGTERM to a server and its agents at once: every agent exits 0 (its sync thread
    used to end first, and the stop then interrupted a destroyed client: a crash)."""
    lat = Lattice(tmp_path / "home")
    server = lat.popen("server", "--port", "0", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (lat.home / "server.json").exists(), what="server.json")
    url = lat.server_info()["url"]
    for round_ in range(4):
        agents = [lat.popen("--server", url, "agent", "--node-id", f"r{round_}a{i}", "--agent-home",
                            tmp_path / f"r{round_}a{i}", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                  for i in range(3)]
        wait_for(lambda: len([n for n in lat.json("--server", url, "nodes")["nodes"]
                              if n["id"].startswith(f"r{round_}") and n["state"] == "ready"]) == 3,
                 what="the agents registered")
        if round_ % 2:  # the server goes too: the agents' last reports fail
            server.send_signal(signal.SIGTERM)
        for a in agents:
            a.send_signal(signal.SIGTERM)
        for a in agents:
            err = a.communicate(timeout=30)[1].decode(errors="replace")
            assert a.returncode == 0, err[-2000:]
        if round_ % 2:
            server.wait(30)
            server = lat.popen("server", "--port", "0", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            info = lat.home / "server.json"
            wait_for(lambda: info.exists() and json.loads(info.read_text() or "{}").get("pid") == server.pid,
                     what="the new server.json")
            url = lat.server_info()["url"]
    terminate(server)
