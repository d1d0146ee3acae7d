"""What runs cost, end to end (docs/cost.md): a priced cluster accrues cost
per experiment while it runs; --max-cost stops a run before it passes its
limit (SIGTERM with the grace period) and starts nothing that would; a
cluster's monthly budget stops what runs there and holds the queue;
--max-duration stops an attempt; `lattice cost` reports by run, user and
cluster; `lattice status` shows the run's cost and the budgets; `lattice run
--dry-run` ends with the sweep's estimate from the catalog, the cluster's
price, --max-duration or what earlier runs of the script took."""
import getpass
import json

import pytest

from harness import Lattice, wait_for, write_script  # noqa: F401
from harness import script_dir  # noqa: F401  (fixture)

LONG = "import time\nwhile True:\n    time.sleep(0.05)\n"


class PricedLattice(Lattice):
    def json_run(self, *args):
        """`lattice run --json ...`: the flag before the script, whose arguments follow it."""
        return json.loads(self.run("run", "--json", *args).stdout)


@pytest.fixture
def priced(tmp_path):
    """A server and one agent offering 2 simulated GPUs and 1 CPU."""
    with PricedLattice(tmp_path / "home").server_and_agent("--simulate-gpus", "2", "--cpus", "1") as lat:
        yield lat


def experiment(lat, run, index=0):
    return lat.json("status", run)["experiments"][index]


def test_max_cost_stops_the_run_within_its_limit_and_cost_is_reported(priced, script_dir):
    lat = priced
    # $3,600 a node-hour; one GPU of two is half a node: 50 cents a second.
    assert "cluster local: $3,600.00/node-hour" in lat.run("cluster", "set", "local", "--price-per-hour", "3600").stdout
    script = write_script(script_dir, "long.py", LONG)
    run = lat.run("run", "--gpus", "1", "--max-cost", "3", "--grace", "1s", script).stdout.strip()
    lat.wait_state(run, {"cancelled"}, timeout=60)
    e = experiment(lat, run)
    assert e["reason"].startswith("stopped: the run's cost $"), e
    assert "would pass its --max-cost $3.00 within the 1s grace period" in e["reason"]
    cost = lat.json("cost", run)
    assert 1.5 <= cost["cost"] < 3.0, cost  # stopped before the limit, not long before it
    assert cost["rate_per_hour"] == 0 and cost["max_cost"] == 3 and cost["price_per_node_hour"] == 3600
    assert cost["experiments"][0]["state"] == "cancelled" and cost["experiments"][0]["gpu_hours"] > 0
    status = lat.run("status", run).stdout
    assert "cost:     $" in status and "of --max-cost $3.00" in status
    by_user = lat.json("cost", "--by", "user")
    assert [g["key"] for g in by_user["groups"]] == [getpass.getuser()]
    assert by_user["total"]["cost"] == pytest.approx(cost["cost"])
    assert lat.json("cost", "--by", "cluster")["groups"][0]["key"] == "local"
    assert lat.json("cost", "--since", "1h")["groups"][0]["key"] == run
    assert lat.json("cost", "--since", "2999-01-01")["groups"] == []
    table = lat.run("cost").stdout
    assert run in table and "total" in table
    listing = lat.run("status").stdout.splitlines()
    assert "COST" in listing[0] and "$" in [line for line in listing if line.startswith(run)][0]


def test_max_cost_with_max_duration_starts_only_what_fits(priced, script_dir):
    lat = priced
    lat.run("cluster", "set", "local", "--price-per-hour", "3600")
    script = write_script(script_dir, "short.py", "print('done')\n")
    # Each experiment may cost 50 cents a second for 10 s: $5. Both fit the
    # node at once, but a $7 limit fits only one.
    run = lat.run("run", "--gpus", "1", "--cpus", "0.5", "--max-cost", "7", "--max-duration", "10s", script,
                  "--seed", "[1, 2]").stdout.strip()
    doc = lat.wait_state(run, {"succeeded", "cancelled", "failed"}, timeout=60)
    states = sorted(e["state"] for e in doc["experiments"])
    assert states == ["cancelled", "succeeded"], doc
    refused = [e for e in doc["experiments"] if e["state"] == "cancelled"][0]
    assert refused["reason"].startswith("not started: starting it would pass the run's --max-cost $7.00"), refused


def test_max_duration_stops_an_attempt(priced, script_dir):
    lat = priced
    script = write_script(script_dir, "long.py", LONG)
    run = lat.run("run", "--max-duration", "2s", "--grace", "1s", script).stdout.strip()
    lat.wait_state(run, {"cancelled"}, timeout=60)
    assert experiment(lat, run)["reason"] == "stopped: it ran longer than its --max-duration 2s"
    assert "limit:    each attempt stops after 2s" in lat.run("status", run).stdout


def test_monthly_budget_stops_what_runs_and_holds_the_queue(priced, script_dir):
    lat = priced
    # 10 cents a second for a whole node; the 30 s grace period is $3, so a
    # $4 budget stops the first run after about $1.
    lat.run("cluster", "set", "local", "--price-per-hour", "360", "--monthly-budget", "4")
    script = write_script(script_dir, "long.py", LONG)
    first = lat.run("run", "--gpus", "2", "--grace", "1s", script).stdout.strip()
    second = lat.run("run", "--gpus", "2", script).stdout.strip()
    lat.wait_state(first, {"cancelled"}, timeout=60)
    assert "stopped: cluster local spent $" in experiment(lat, first)["reason"]
    waiting = wait_for(lambda: experiment(lat, second) if experiment(lat, second)["reason"].startswith(
        "waiting: cluster local spent") else None, timeout=20, what="the second run to wait for the budget")
    assert waiting["state"] == "queued" and "lattice cluster set local --monthly-budget N" in waiting["reason"]
    listing = lat.run("status").stdout
    assert "budget: cluster local spent $" in listing and "of $4.00 for " in listing
    shown = lat.json("cluster", "show", "local")
    assert shown["monthly_budget"] == 4 and shown["month"]["cost"] > 0
    lat.run("cluster", "set", "local", "--monthly-budget", "1000")  # raised: the queue moves
    lat.wait_state(second, {"running"}, timeout=30)
    lat.run("cancel", second)


def test_dry_run_ends_with_the_sweeps_cost(priced, script_dir):
    lat = priced
    script = write_script(script_dir, "train.py", "print('trained')\n")
    doc = lat.json_run("--dry-run", "--instance_type", "g5.12xlarge", "--gpus", "8", "--max-duration", "2h",
                   script, "--lr", "[0.1, 0.01, 0.001]")
    est = doc["estimate"]
    assert est["experiments"] == 3 and est["nodes"] == 2 and est["node_hours"] == 12
    assert est["duration_source"] == "--max-duration" and est["price_source"].startswith("g5.12xlarge, aws")
    price = est["per_node_hour"]
    assert est["on_demand"] == pytest.approx(12 * price["on_demand"])
    assert 0 < price["spot"] < price["on_demand"] and est["spot"] == pytest.approx(12 * price["spot"])
    text = lat.run("run", "--dry-run", "--instance_type", "g5.12xlarge", "--gpus", "8", "--max-duration", "2h",
                   "--max-cost", "50", script, "--lr", "[0.1, 0.01, 0.001]").stdout
    assert "estimate: 3 experiments × 2 nodes × 2h (--max-duration) = 12 node-hours" in text
    assert "  on-demand: $" in text and "  spot:      $" in text
    assert "--max-cost $50.00 stops it after about 2 of 3 experiments" in text
    # The cluster's price, and a duration learned from an earlier run of the same script.
    lat.run("cluster", "set", "local", "--price-per-hour", "2")
    free = lat.json_run("--dry-run", "--gpus", "1", script)["estimate"]
    assert free["per_node_hour"]["on_demand"] == 1.0 and free["duration_ms"] is None  # half a $2 node
    lat.run("cluster", "set", "local", "--instance-type", "g5.xlarge")  # a catalog type: its spot price too
    typed = lat.json_run("--dry-run", "--gpus", "1", script)["estimate"]["per_node_hour"]
    assert 0 < typed["spot"] < typed["on_demand"]
    lat.run("cluster", "set", "local", "--price-per-hour", "2")
    run = lat.run("run", "--gpus", "1", script).stdout.strip()
    lat.wait_state(run, {"succeeded"}, timeout=60)
    learned = lat.json_run("--dry-run", "--gpus", "1", script, "--lr", "[1, 2]")["estimate"]
    assert learned["duration_source"] == "the median of 1 earlier experiments of train.py"
    assert learned["duration_ms"] > 0 and learned["on_demand"] == pytest.approx(
        2 * learned["duration_ms"] / 3_600_000 * 1.0)


def test_bad_pricing_and_limits_are_refused_with_the_reason(priced, script_dir):
    lat = priced
    script = write_script(script_dir, "train.py", "print(1)\n")
    cases = [
        (("run", "--max-duration", "soon", script), "--max-duration 'soon' must be a positive duration"),
        (("run", "--max-cost", "-5", script), "--max-cost"),
        (("cluster", "set", "local", "--price-per-hour", "2", "--instance-type", "g5.xlarge"),
         "give --price-per-hour or --instance-type"),
        (("cluster", "set", "local", "--instance-type", "g5.xlarg"), "g5.xlarge"),
        (("cluster", "set", "local", "--instance-type", "gpu_1x_a10", "--spot"), "has no spot price"),
        (("cluster", "set", "local", "--instance-type", "g5.xlarge", "--region", "mars-1"),
         "has no price in mars-1; it has prices in: "),
        (("cluster", "set", "local"), "nothing to set"),
        (("cluster", "set", "nosuch", "--price-per-hour", "1"), "no cluster named 'nosuch'"),
        (("cost", "--since", "yesterday"), "--since 'yesterday' is neither a date"),
        (("cost", "some-run", "--by", "user"), "with RUN, leave them out"),
        (("cost", "nosuch"), "no run named 'nosuch'"),
    ]
    for args, message in cases:
        proc = lat.run(*args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
    assert lat.json("status")["runs"] == []  # nothing was created
    priced_by_catalog = lat.json("cluster", "set", "local", "--instance-type", "g5.xlarge", "--region", "us-east-1")
    assert priced_by_catalog["instance_type"] == "g5.xlarge" and priced_by_catalog["price_per_node_hour"] > 0
    assert json.loads(lat.run("cluster", "list", "--json").stdout)["clusters"][0]["instance_type"] == "g5.xlarge"
