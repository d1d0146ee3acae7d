"""The web UI in Debian's Chromium (driven by playwright-core from web/'s npm
packages) against a real server that requires a token and a real agent
running a real sweep of examples/digits: web/e2e/ui.e2e.mjs does the
clicking and checking; this file starts the parts and submits the run.
Needs web/dist (scripts/build-web.sh) and /usr/bin/chromium
(scripts/install-deps.sh). Screenshots land in build/ui-screenshots/."""
import os
import shutil
import subprocess

from conftest import REPO, lattice_env

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO / "build" / "ui-screenshots"


def test_ui_follows_compares_reruns_and_cancels_a_sweep_in_chromium(lattice_bin, lattice_servers, lattice_agents,
                                                                    tmp_path):
    assert (REPO / "web" / "dist" / "index.html").exists(), "web/dist is missing: run scripts/build-web.sh"
    assert (REPO / "web" / "node_modules" / "playwright-core").exists(), "run scripts/build-web.sh (npm ci)"
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: run scripts/install-deps.sh"
    node = shutil.which("node")
    assert node, "node is missing: run scripts/install-deps.sh"

    server = lattice_servers("--require-token")
    lattice_agents(server, "--simulate-gpus", "2")  # two ranks of one experiment: one per GPU
    name = "ui-digits"
    # Long enough (a few seconds of training) to be watched while it runs.
    submit = subprocess.run(
        [str(lattice_bin), "--home", str(server.home), "--server", server.url, "run", "--name", name,
         str(REPO / "examples" / "digits" / "train.py"), "--epochs", "400", "--lr", "[0.01, 0.1]"],
        env=lattice_env(server.home), capture_output=True, text=True, timeout=120)
    assert submit.returncode == 0, submit.stderr
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    (ranks / "ranks.sh").write_text('for i in 1 2 3; do echo "line $i of rank $RANK"; done\n')
    submit = subprocess.run(
        [str(lattice_bin), "--home", str(server.home), "--server", server.url, "run", "--name", "ui-ranks",
         "--gpus", "2", "--launcher", "per-gpu", str(ranks / "ranks.sh")],
        env=lattice_env(server.home), capture_output=True, text=True, timeout=120)
    assert submit.returncode == 0, submit.stderr

    shutil.rmtree(SHOTS, ignore_errors=True)
    env = dict(os.environ, LATTICE_UI_URL=server.url, LATTICE_TOKEN=server.token, LATTICE_RUN=name,
               LATTICE_EXPERIMENTS="2", LATTICE_RANKS_RUN="ui-ranks", SCREENSHOT_DIR=str(SHOTS), CHROMIUM=CHROMIUM)
    proc = subprocess.run([node, str(REPO / "web" / "e2e" / "ui.e2e.mjs")], env=env, capture_output=True,
                          text=True, timeout=420)
    print(proc.stdout)
    assert proc.returncode == 0, (f"{proc.stdout}\n{proc.stderr}\nserver log:\n{server.log_tail()}")
    for page in ("experiment-running", "experiment", "experiment-ranks", "runs", "run", "nodes", "run-cancelled", "phone-runs",
                 "phone-run", "phone-experiment", "phone-nodes"):
        assert (SHOTS / f"{page}.png").stat().st_size > 1000, f"no screenshot of {page}"
