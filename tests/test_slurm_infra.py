"""Tests of tests/slurm.py: a real Slurm cluster (slurmctld here, a slurmd on each of two namespace
hosts) that runs batch jobs, multi-node steps and job arrays, survives its controller going down,
and whose job steps reach a server on this machine's bridge address.

Skipped without root, network namespaces or Debian's slurm-wlm and munge. Traffic goes only to the
namespaces made here and their bridge.
"""

import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import netns
from harness import pid_alive, wait_for
from netns import NetnsCluster
# clean_slurm and slurm_cluster are fixtures
from slurm import SlurmCluster, clean_slurm, skip_unless_slurm, slurm_cluster, sweep_stale  # noqa: F401


def wait_text(path, timeout=20.0):
    """The file's text once it has some."""
    def text():
        try:
            return path.read_text()
        except OSError:
            return ""
    return wait_for(text, timeout=timeout, interval=0.005, what=f"text in {path}")


def test_nodes_are_idle(slurm_cluster):
    hosts, slurm = slurm_cluster
    assert slurm.node_states() == {"n1": "idle", "n2": "idle"}
    assert [slurm.host(n).address for n in slurm.nodes] == [h.address for h in hosts.hosts]
    conf = slurm.conf_path.read_text()
    assert f"({hosts.bridge_address})" in conf and "NodeName=n2 NodeAddr=" + hosts.hosts[1].address in conf


def test_batch_job_writes_its_output(clean_slurm, tmp_path):
    out = tmp_path / "hi.out"
    job = clean_slurm.sbatch("--output", out, "--wrap", "hostname; echo hi")
    assert clean_slurm.wait_job(job, "COMPLETED") == "COMPLETED"
    assert wait_text(out).splitlines()[-1] == "hi"
    info = clean_slurm.job_info(job)
    assert info["ExitCode"] == "0:0" and info["NodeList"] in ("n1", "n2")


def test_submission_to_output_latency(clean_slurm, tmp_path):
    """Seconds from `sbatch --wrap 'echo x'` to its output file having text.

    Measured here (2 cores): 0.1 to 1.0 s, median ~0.5 s (with Slurm's default SchedulerParameters:
    2.0 to 3.0 s). slurmctld starts a batch job not at submission but in its next once-a-second pass
    (batch_sched_delay=0) or backfill pass (bf_interval=1); launching it then takes ~30 ms.
    """
    latencies = []
    for i in range(5):
        time.sleep(0.2 * i)  # submit at different points of slurmctld's one-second cycle
        out = tmp_path / f"x{i}.out"
        t0 = time.monotonic()
        clean_slurm.sbatch("--output", out, "--wrap", "echo x")
        assert wait_text(out).strip() == "x"
        latencies.append(time.monotonic() - t0)
    print(f"sbatch --wrap 'echo x' to output: min {min(latencies):.2f} s, median "
          f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s")
    assert statistics.median(latencies) < 1.5, latencies  # the median: robust to a busy machine


def test_two_node_job_runs_a_step_on_each_node(clean_slurm, tmp_path):
    out = tmp_path / "n2.out"
    job = clean_slurm.sbatch("-N2", "--output", out, "--wrap", "srun sh -c 'echo $SLURMD_NODENAME $(hostname)'")
    clean_slurm.wait_job(job, "COMPLETED")
    lines = sorted(wait_text(out).splitlines())
    assert [line.split()[0] for line in lines] == ["n1", "n2"], lines


def test_array_tasks_pack_two_per_node(clean_slurm, tmp_path):
    # Each task waits (up to 15 s) until all four have started: they can only finish "together" if the
    # four one-CPU, 100 MB tasks run at once, two on each 2-CPU node.
    script = (f"touch {tmp_path}/started.$SLURM_ARRAY_TASK_ID; "
              f"for i in $(seq 150); do [ $(ls {tmp_path} | grep -c started) -ge 4 ] && break; sleep 0.1; done; "
              f"echo $SLURMD_NODENAME $(ls {tmp_path} | grep -c started)")
    job = clean_slurm.sbatch("--array=0-3", "-n1", "--cpus-per-task=1", "--mem=100",
                             "--output", f"{tmp_path}/task-%a.out", "--wrap", script)
    outs = [wait_text(tmp_path / f"task-{i}.out") for i in range(4)]
    rows = sorted(o.split() for o in outs)
    assert rows == [["n1", "4"], ["n1", "4"], ["n2", "4"], ["n2", "4"]], outs
    wait_for(lambda: not [r for r in clean_slurm.squeue_jobs() if r.job_id.startswith(f"{job}_")
                          and r.state != "COMPLETED"], timeout=15, what=f"array job {job} to end")


def test_controller_down_and_back(clean_slurm, tmp_path):
    running = clean_slurm.sbatch("--output", tmp_path / "running.out", "--wrap", "echo started; sleep 300")
    held = clean_slurm.sbatch("--hold", "--wrap", "true")  # pending, reason JobHeldUser
    clean_slurm.wait_job(running, "RUNNING")
    assert wait_text(tmp_path / "running.out").strip() == "started"
    try:
        clean_slurm.stop_controller()
        assert not clean_slurm.controller_running
        t0 = time.monotonic()
        r = clean_slurm.run(["sbatch", "--wrap", "true"])
        print(f"sbatch failed after {time.monotonic() - t0:.1f} s with the controller down")
        assert r.returncode != 0 and "Unable to contact slurm controller" in r.stderr, r
    finally:
        clean_slurm.start_controller()
    assert clean_slurm.job_state(running) == "RUNNING"  # its step kept running meanwhile
    assert clean_slurm.job_info(held)["Reason"] == "JobHeldUser"
    assert {r.job_id: r.state for r in clean_slurm.squeue_jobs()} == {running: "RUNNING", held: "PENDING"}
    out = tmp_path / "after.out"
    after = clean_slurm.sbatch("--output", out, "--wrap", "echo after")
    assert wait_text(out).strip() == "after"
    clean_slurm.wait_job(after, "COMPLETED")


def test_job_step_reaches_a_server_on_the_bridge(slurm_cluster, clean_slurm, tmp_path):
    hosts, _ = slurm_cluster
    with socket.create_server((hosts.bridge_address, 0)) as srv:
        port = srv.getsockname()[1]
        srv.settimeout(20)

        def answer():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello from the bridge")
        threading.Thread(target=answer, daemon=True).start()
        dial = (f"import socket; s = socket.create_connection(('{hosts.bridge_address}', {port}), timeout=10); "
                f"print(s.recv(100).decode())")
        out = tmp_path / "dial.out"
        job = clean_slurm.sbatch("--output", out, "--wrap", f'srun python3 -c "{dial}"')
        clean_slurm.wait_job(job, "COMPLETED")
    assert wait_text(out).strip() == "hello from the bridge"


def test_close_leaves_nothing_behind(tmp_path):
    """A cluster of its own (one host), closed with a job running: its daemons and the job's processes go."""
    skip_unless_slurm()
    with NetnsCluster(1) as hosts:
        with SlurmCluster(hosts, tmp_path / "s") as slurm:
            job = slurm.sbatch("--output", tmp_path / "sleep.out", "--wrap", "echo up; exec sleep 300")
            slurm.wait_job(job, "RUNNING")
            wait_text(tmp_path / "sleep.out")
            pids = [slurm._ctld.pid, *(p.pid for p in slurm._slurmds.values()), *slurm._step_pids()]
            assert len(pids) >= 4  # slurmctld, slurmd, slurmstepd, the job's shell or sleep
        assert [p for p in pids if pid_alive(p)] == []
        left = subprocess.run(["pgrep", "-f", str(tmp_path / "s")], capture_output=True, text=True).stdout
        assert left.strip() == ""


# Starts a one-host cluster with a job running, prints the pids of its daemons and job, and sleeps.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from netns import NetnsCluster
    from slurm import SlurmCluster
    out = Path(sys.argv[2]) / "out"
    slurm = SlurmCluster(NetnsCluster(1).start(), sys.argv[2]).start()
    slurm.wait_job(slurm.sbatch("--output", out, "--wrap", "echo up; exec sleep 300"), "RUNNING")
    while not (out.exists() and out.read_text()):
        time.sleep(0.01)
    pids = [slurm._ctld.pid, *(p.pid for p in slurm._slurmds.values()), *slurm._step_pids()]
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_test_process_leaves_no_daemons(sig, tmp_path):
    """SIGTERM: the test process stops its daemons and job steps itself. SIGKILL: the next
    SlurmCluster (here: sweep_stale(), which start() calls) stops the slurmctld it left, and the next
    NetnsCluster what it left in its namespaces."""
    skip_unless_slurm()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(Path(__file__).parent), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in holder.stdout.readline().split()]
        assert len(pids) >= 4, pids  # slurmctld, slurmd, slurmstepd, the job's sleep
        assert all(pid_alive(p) for p in pids)
        holder.send_signal(sig)
        assert holder.wait(timeout=30) == -sig
        if sig == signal.SIGKILL:  # nobody cleaned up (unless a concurrent test process swept already)
            sweep_stale()
            netns.sweep_stale()
        wait_for(lambda: not [p for p in pids if pid_alive(p)], timeout=10, what=f"{pids} to be gone")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
