"""Slurm clusters for real: slurmctld on this machine and a slurmd in each of two
network-namespace hosts (tests/slurm.py), a Lattice server on the bridge that
drives them with sbatch/squeue/scancel, and agents that only Slurm starts.
Slurm's own tools confirm what Lattice reports."""
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness import ROOT, Lattice, script_dir, terminate, wait_for, write_script  # noqa: F401
from slurm import clean_slurm, slurm_cluster  # noqa: F401  (fixtures)

DDP = ROOT / "examples" / "ddp" / "train.py"
FINAL = re.compile(r"^\[rank (\d+)\] final rank=(\d+) world=(\d+) params_sha256=([0-9a-f]+) step=(\d+)$", re.M)


class SlurmLattice:
    """A server on the bridge (token required) with Slurm's commands on its PATH and SLURM_CONF set."""

    def __init__(self, net, slurm, home: Path):
        self.slurm = slurm
        self.lat = Lattice(home)
        self.lat.env.update(slurm.env())
        self.lat.env["PYTHONPATH"] = str(ROOT / "sdk" / "python")
        self.log_path = home.parent / "server.log"
        self.server = self.lat.popen("server", "--host", net.bridge_address, "--port", "0",
                                     stdout=subprocess.DEVNULL, stderr=open(self.log_path, "wb"))
        wait_for(lambda: (home / "server.json").exists(), what="server.json")
        self.url = self.lat.server_info()["url"]
        self.lat.env["LATTICE_SERVER"] = self.url
        self.lat.run("cluster", "create", "hpc", "--backend", "slurm", "--server-url", self.url)

    def stop(self):
        terminate(self.server)

    def submit(self, *args):
        return self.lat.run("run", "--cluster", "hpc", *args).stdout.strip().splitlines()[-1]

    def reason(self, run, exp=0):
        return self.lat.json("status", run)["experiments"][exp]["reason"]

    def lattice_jobs(self):
        """This server's Slurm jobs as squeue lists them (name lattice-hpc-...)."""
        return [j for j in self.slurm.squeue_jobs() if j.name.startswith("lattice-hpc-")]

    def log(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def sl(slurm_cluster, tmp_path_factory):  # noqa: F811
    net, slurm = slurm_cluster
    s = SlurmLattice(net, slurm, tmp_path_factory.mktemp("slurm-lattice") / "home")
    yield s
    s.stop()


def wait_released(sl, timeout=30):
    wait_for(lambda: not sl.lattice_jobs(), timeout=timeout, interval=0.5,
             what=f"Slurm allocations released (squeue: {sl.slurm.squeue_jobs()})")


def test_a_run_goes_through_a_slurm_allocation_that_squeue_confirms_and_that_is_released(sl, clean_slurm,
                                                                                          script_dir):
    script = write_script(script_dir, "hello.py", "import os\nprint('hello from', os.environ['SLURMD_NODENAME'])\n")
    run = sl.submit(script)
    wait_for(lambda: sl.lattice_jobs(), timeout=20, interval=0.2, what="a Slurm job for the run")
    job = sl.lattice_jobs()[0]
    assert sl.slurm.job_info(job.job_id.split("_")[0]) is not None  # scontrol knows it
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=60)
    out = sl.lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", out + sl.log()
    assert re.search(r"hello from n[12]", out), out
    nodes = [n for n in sl.lat.json("cluster", "show", "hpc")["nodes"]]
    assert nodes and all(n["cluster"] == "hpc" and n["allocation"].startswith("slurm job ") for n in nodes), nodes
    wait_released(sl)  # nothing left to run: the allocation ends
    # Slurm's own record of the finished job agrees: the job that held the node, on that Slurm node.
    node = next(n for n in sl.lat.json("cluster", "show", "hpc")["nodes"] if n["id"] == doc["experiments"][0]["node"])
    job = node["allocation"].removeprefix("slurm job ")
    done = wait_for(lambda: [r for r in sl.slurm.sacct_completed() if r["JobID"] == job], timeout=20,
                    interval=0.5, what=f"sacct --completion lists job {job}")
    assert done[0]["JobName"].startswith("lattice-hpc-") and done[0]["NodeList"] == node["id"].split("-")[0], done
    assert done[0]["State"] in ("CANCELLED", "COMPLETED"), done  # released by scancel, or its agent's idle exit


def test_a_sweep_is_packed_into_one_job_array_whose_agents_take_several_experiments(sl, clean_slurm, script_dir):
    script = write_script(script_dir, "sq.py", "import sys\nprint('x squared is', int(sys.argv[2]) ** 2)\n")
    before = sl.log().count("submitted Slurm job")
    run = sl.submit(script, "--x", "[1, 2, 3, 4, 5, 6, 7, 8]")
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=90)
    assert doc["state"] == "succeeded", sl.log()
    outs = [sl.lat.run("logs", f"{run}/{i}").stdout for i in range(8)]
    assert all(f"x squared is {(i + 1) ** 2}" in o for i, o in enumerate(outs)), outs
    submits = sl.log().count("submitted Slurm job") - before
    assert submits <= 2, sl.log()  # one array (a second only if a pilot ended early), never one per experiment
    wait_released(sl)


def test_ddp_across_two_slurm_nodes_in_one_allocation(sl, clean_slurm):
    run = sl.submit("--nodes", "2", DDP, "--steps", "20", "--ckpt-every", "10")
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=150)
    log = sl.lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log + sl.log()
    finals = {int(r): (int(rank), int(world), sha, int(step)) for r, rank, world, sha, step in FINAL.findall(log)}
    assert sorted(finals) == [0, 1], log
    assert {f[1] for f in finals.values()} == {2} and len({f[2] for f in finals.values()}) == 1, finals
    nodes = {n["id"]: n for n in sl.lat.json("cluster", "show", "hpc")["nodes"]}
    allocation = nodes[doc["experiments"][0]["node"]]["allocation"]  # node rank 0's
    job = allocation.removeprefix("slurm job ")
    both = sorted(i for i, n in nodes.items() if n["allocation"] == allocation)
    assert both == [f"n1-{job}", f"n2-{job}"], nodes  # one 2-node Slurm job held both agents
    wait_released(sl)


def test_while_pending_the_reason_names_the_slurm_job_and_slurms_reason(sl, clean_slurm, script_dir):
    blocker = sl.slurm.sbatch("-N2", "--exclusive", "--wrap", "sleep 60")
    wait_for(lambda: sl.slurm.job_state(blocker) == "RUNNING", timeout=20, what="the blocking job runs")
    script = write_script(script_dir, "after.py", "print('ran after the blocker')\n")
    run = sl.submit(script)
    wait_for(lambda: re.search(r"waiting for Slurm job \d+ \(pending: (Resources|Priority)\)", sl.reason(run)),
             timeout=20, interval=0.2, what="the Slurm reason in the status")
    job = sl.lattice_jobs()[0]
    assert job.state == "PENDING" and job.reason in ("Resources", "Priority"), job
    assert job.job_id.split("_")[0] in sl.reason(run)
    sl.slurm.run(["scancel", blocker], check=True)
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=60)
    assert doc["state"] == "succeeded"
    wait_released(sl)


def test_cancel_stops_the_experiment_and_scancels_its_allocation(sl, clean_slurm, script_dir):
    script = write_script(script_dir, "long.py", "import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    run = sl.submit(script)
    wait_for(lambda: "started" in sl.lat.run("logs", f"{run}/0").stdout, timeout=60, what="the script started")
    assert sl.lattice_jobs() and sl.lattice_jobs()[0].state == "RUNNING"
    sl.lat.run("cancel", run)
    doc = sl.lat.wait_state(run, ("cancelled",), timeout=40)
    assert doc["experiments"][0]["state"] == "cancelled"
    wait_released(sl, timeout=20)


def test_slurmctld_down_keeps_runs_queued_with_the_reason_and_they_start_when_it_returns(sl, clean_slurm,
                                                                                         script_dir):
    script = write_script(script_dir, "later.py", "print('ran once slurmctld was back')\n")
    sl.slurm.stop_controller()
    run = sl.submit(script)
    wait_for(lambda: "Slurm does not answer" in sl.reason(run), timeout=40, interval=0.5,
             what="the reason says Slurm is down")
    reason = sl.reason(run)
    assert "Unable to contact slurm controller" in reason and "(command: squeue " in reason, reason
    assert sl.lat.json("status", run)["experiments"][0]["state"] == "queued"
    sl.slurm.start_controller()
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=90)
    assert doc["state"] == "succeeded", sl.log()
    assert "ran once slurmctld was back" in sl.lat.run("logs", f"{run}/0").stdout
    wait_released(sl)


def test_an_sbatch_error_is_shown_verbatim_with_the_command(sl, clean_slurm, script_dir):
    script = write_script(script_dir, "never.py", "print('never')\n")
    sl.lat.run("cluster", "create", "badpart", "--backend", "slurm", "--partition", "nosuch",
               "--server-url", sl.url)
    run = sl.lat.run("run", "--cluster", "badpart", script).stdout.strip().splitlines()[-1]
    wait_for(lambda: "sbatch failed" in sl.lat.json("status", run)["experiments"][0]["reason"], timeout=30,
             interval=0.2, what="the sbatch error in the status")
    reason = sl.lat.json("status", run)["experiments"][0]["reason"]
    assert "invalid partition specified: nosuch" in reason and "(command: sbatch " in reason, reason
    assert "--partition=nosuch" in reason
    delete = sl.lat.run("cluster", "delete", "badpart", check=False)
    assert delete.returncode != 0 and "unfinished experiment" in delete.stderr
    sl.lat.run("cancel", run)
    sl.lat.wait_state(run, ("cancelled",), timeout=20)
    sl.lat.run("cluster", "delete", "badpart")
    assert "badpart" not in [c["name"] for c in sl.lat.json("cluster", "list")["clusters"]]


def test_a_requeued_slurm_job_is_a_lost_attempt_that_resumes_from_its_checkpoint(sl, clean_slurm):
    run = sl.submit("--max-restarts", "1", "--grace", "10s", DDP, "--steps", "300", "--ckpt-every", "5",
                    "--step-sleep", "0.05")
    wait_for(lambda: sl.lat.json("artifacts", run, "--kind", "checkpoint")["artifacts"], timeout=90,
             interval=0.5, what="a checkpoint")
    job = [j for j in sl.lattice_jobs() if j.state == "RUNNING"][0]
    # What Slurm does to a preempted (or requeued) job: its processes get SIGTERM, then SIGKILL.
    sl.slurm.run(["scontrol", "requeue", job.job_id], check=True)
    doc = sl.lat.wait_state(run, ("succeeded", "failed"), timeout=180)
    log = sl.lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log + sl.log()
    exp = doc["experiments"][0]
    assert exp["restarts"] == 1 and exp["attempts"] == 2, exp
    assert re.search(r"resumed from step (\d+)", log), log
    wait_released(sl)
