"""`lattice estimate`, `lattice instances` and catalog instance types end to
end: the real binary, no server (none is started: these commands are pure).
The figures are the published ones docs/estimates.md cites."""
import json

import pytest

from harness import Lattice, script_dir, write_script  # noqa: F401

GB = 10**9
GiB = 2**30


@pytest.fixture
def lat(tmp_path):
    lat = Lattice(tmp_path / "home")
    yield lat
    assert not (lat.home / "server.json").exists()  # nothing contacted or started a server


def usage_error(lat, *args, env=None):
    """Runs a command that must fail as a usage error (exit 64, nothing on stdout); returns stderr."""
    if env:
        lat.env.update(env)
    proc = lat.run(*args, check=False)
    assert proc.returncode == 64, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    return proc.stderr.strip()


def test_seven_billion_bf16_adam_breakdown_text_and_json(lat):
    doc = lat.json("estimate", "--params", "7e9", "--precision", "bf16", "--optimizer", "adam")
    assert doc["params"] == 7 * 10**9
    assert doc["bytes_per_param"] == {"weights": 2, "gradients": 2, "optimizer": 12, "total": 16}
    assert doc["model_states"] == {"weights_bytes": 14 * GB, "gradients_bytes": 14 * GB,
                                   "optimizer_bytes": 84 * GB, "total_bytes": 112 * GB}
    assert doc["activations"] is None and doc["total_bytes"] == 112 * GB
    assert doc["checkpoint"] == {"weights_only_bytes": 14 * GB, "with_optimizer_bytes": 98 * GB}
    assert doc["headroom"] == 0.1
    assert doc["catalog"]["as_of"] and doc["catalog"]["file"] is None
    # Fits: cheapest first, each within 90% of its GPUs' memory.
    fits = doc["instances"]
    assert fits and [f["on_demand_per_hour"] for f in fits] == sorted(f["on_demand_per_hour"] for f in fits)
    for f in fits:
        assert f["per_gpu_bytes"] <= 0.9 * f["gpu_memory_bytes"], f
        assert f["gpus"] <= f["nodes"] * f["gpus_per_node"]
    # 112 GB cannot sit on one 80 GiB GPU: the single-GPU machines are not there.
    assert all(f["gpus"] > 1 for f in fits)

    text = lat.run("estimate", "--params", "7B").stdout  # bf16 and adam are the defaults
    assert "7B parameters, bf16, Adam (mixed precision: fp32 master weights and two fp32 moments)" in text
    for line in ("weights      2            14.0 GB", "gradients    2            14.0 GB",
                 "optimizer    12           84.0 GB", "total        16           112 GB",
                 "weights only (bf16)               14.0 GB", "with optimizer state (to resume)  98.0 GB"):
        assert line in text, line
    assert "Instance types that fit, cheapest first (10 of " in text and "--all for every one" in text
    everything = lat.run("estimate", "--params", "7B", "--all").stdout
    assert len(everything.splitlines()) > len(text.splitlines())


def test_gpus_spreads_the_model_states_with_the_zero_stages(lat):
    doc = lat.json("estimate", "--params", "7e9", "--precision", "bf16", "--gpus", "8")
    per_gpu = {row["sharding"]: row["total_bytes"] for row in doc["per_gpu"]}
    # 2Ψ+2Ψ+12Ψ/8, 2Ψ+14Ψ/8, 16Ψ/8 (ZeRO §3.1).
    assert per_gpu == {"none": 112 * GB, "ZeRO-1": 38_500_000_000, "ZeRO-2": 26_250_000_000,
                       "ZeRO-3/FSDP": 14 * GB}
    needed = {row["gpu_memory_bytes"] // GiB: row["sharding"] for row in doc["sharding_needed"]}
    assert needed[16] == "ZeRO-3/FSDP" and needed[40] == "ZeRO-1" and needed[80] == "ZeRO-1"
    assert all(f["gpus"] == 8 for f in doc["instances"])
    by_name = {f["name"]: f for f in doc["instances"]}
    assert by_name["p4d.24xlarge"]["sharding"] == "ZeRO-1" and by_name["p4d.24xlarge"]["nodes"] == 1
    assert by_name["g5.12xlarge"]["nodes"] == 2 and by_name["g5.12xlarge"]["sharding"] == "ZeRO-3/FSDP"
    text = lat.run("estimate", "--params", "7e9", "--gpus", "8").stdout
    assert "Per GPU over 8 GPUs" in text
    assert "ZeRO-1       14.0 GB  14.0 GB    10.5 GB    0 B          38.5 GB" in text


def test_zero_paper_figure_one(lat):
    doc = lat.json("estimate", "--params", "7.5B", "--precision", "fp16", "--gpus", "64")
    per_gpu = {row["sharding"]: row["total_bytes"] / GB for row in doc["per_gpu"]}
    assert per_gpu["none"] == 120
    assert round(per_gpu["ZeRO-1"], 1) == 31.4
    assert round(per_gpu["ZeRO-2"], 1) == 16.6
    assert round(per_gpu["ZeRO-3/FSDP"], 1) == 1.9


def test_activations_simple_and_with_layers(lat):
    simple = lat.json("estimate", "--params", "1.5b", "--batch", "8", "--seq", "1024", "--dim", "1600")
    assert simple["activations"]["bytes"] == 8 * 1024 * 1600 * 2
    assert simple["activations"]["layers"] is None
    assert simple["total_bytes"] == 24 * GB + 8 * 1024 * 1600 * 2
    layered = lat.json("estimate", "--params", "1.5b", "--batch", "8", "--seq", "1024", "--dim", "1600",
                       "--layers", "48")
    assert layered["activations"]["bytes"] == 48 * 34 * 8 * 1024 * 1600
    assert "Korthikanti" in layered["activations"]["formula"]
    fp32 = lat.json("estimate", "--params", "1.5b", "--precision", "fp32", "--batch", "8", "--seq", "1024",
                    "--dim", "1600", "--layers", "48")
    assert fp32["activations"]["bytes"] == 2 * layered["activations"]["bytes"]
    text = lat.run("estimate", "--params", "1.5b", "--batch", "8", "--seq", "1024", "--dim", "1600").stdout
    assert "activations  -            26.2 MB  (batch × seq × dim × 2 bytes)" in text


def test_checkpoint_disk_of_seventy_billion(lat):
    bf16 = lat.json("estimate", "--params", "70B", "--precision", "bf16")
    fp32 = lat.json("estimate", "--params", "70B", "--precision", "fp32")
    assert bf16["checkpoint"]["weights_only_bytes"] == 140 * GB
    assert fp32["checkpoint"]["weights_only_bytes"] == 280 * GB
    assert fp32["checkpoint"]["with_optimizer_bytes"] == 70 * 12 * GB
    serving = lat.json("estimate", "--params", "70B", "--precision", "int8", "--optimizer", "none")
    assert serving["checkpoint"]["weights_only_bytes"] == 70 * GB and serving["total_bytes"] == 70 * GB
    assert "weights only (fp32)               280 GB" in lat.run("estimate", "--params", "70B",
                                                                 "--precision", "fp32").stdout


def test_bad_estimate_inputs_are_refused_with_the_flag_and_what_is_right(lat):
    like = ": give the parameter count like 7e9, 7B, 1.5b, 125M or 70000000000"
    assert usage_error(lat, "estimate", "--params", "0") == "lattice: --params '0' is zero" + like
    assert usage_error(lat, "estimate", "--params", "-7e9") == "lattice: --params '-7e9' is negative" + like
    assert usage_error(lat, "estimate", "--params", "nan") == "lattice: --params 'nan' is not a number" + like
    assert usage_error(lat, "estimate", "--params", "2e15") == \
        "lattice: --params '2e15' is absurd (more than 1e15 parameters)" + like
    assert usage_error(lat, "estimate", "--params", "7e9", "--batch", "8") == (
        "lattice: activations need all three of --batch, --seq and --dim (batch × sequence length × input "
        "dimension × bytes per value); --layers refines them")
    assert usage_error(lat, "estimate", "--params", "7e9", "--batch", "0", "--seq", "2048", "--dim", "4096") == \
        "lattice: --batch '0' is zero: give a whole number from 1 to 1000000"
    assert usage_error(lat, "estimate", "--params", "7e9", "--batch", "8", "--seq", "-2048", "--dim", "4096") == \
        "lattice: --seq '-2048' is negative: give a whole number from 1 to 100000000"
    assert usage_error(lat, "estimate", "--params", "7e9", "--batch", "8", "--seq", "2048", "--dim", "1e9") == \
        "lattice: --dim '1e9' is absurd: give a whole number from 1 to 1000000"
    assert usage_error(lat, "estimate", "--params", "7e9", "--batch", "8", "--seq", "2048", "--dim", "4096",
                       "--layers", "0") == "lattice: --layers '0' is zero: give a whole number from 1 to 10000"
    assert usage_error(lat, "estimate", "--params", "7e9", "--gpus", "0") == \
        "lattice: --gpus '0' is zero: give a whole number from 1 to 65536"
    int8 = usage_error(lat, "estimate", "--params", "7e9", "--precision", "int8")
    assert int8.startswith("lattice: --precision int8 is for inference (--optimizer none)") and "bf16" in int8
    assert "fp32, fp16, bf16, int8" in usage_error(lat, "estimate", "--params", "7e9", "--precision", "fp4")
    assert "absurd" in usage_error(lat, "estimate", "--params", "1e15", "--batch", "1000000", "--seq",
                                   "100000000", "--dim", "1000000")


def test_instances_filters_and_cheapest_first(lat):
    listed = lat.json("instances")["instances"]
    prices = [i["on_demand_per_hour"] for i in listed]
    assert prices == sorted(prices) and len(listed) >= 60
    assert {i["provider"] for i in listed} == {"aws", "gcp", "azure", "lambda", "vast", "runpod", "modal",
                                              "jarvislabs"}
    v100 = lat.json("instances", "--gpu", "V100")["instances"]
    assert v100 and {i["gpu_model"] for i in v100} == {"V100"}
    assert {"p3.2xlarge", "p3dn.24xlarge", "Standard_NC6s_v3", "gpu_8x_v100"} <= {i["name"] for i in v100}
    big = lat.json("instances", "--min-gpu-memory", "40G")["instances"]
    assert big and all(i["gpu_memory_bytes"] >= 40 * GiB for i in big)
    assert "g5.xlarge" not in {i["name"] for i in big}
    spot = lat.json("instances", "--spot")["instances"]
    assert spot and all(i["spot_per_hour"] is not None for i in spot)
    assert [i["spot_per_hour"] for i in spot] == sorted(i["spot_per_hour"] for i in spot)
    assert not {"lambda", "modal", "jarvislabs"} & {i["provider"] for i in spot}
    eu = lat.json("instances", "--provider", "aws", "--region", "eu-west-1")["instances"]
    g5 = next(i for i in eu if i["name"] == "g5.xlarge")
    assert g5["on_demand_per_hour"] == next(p["on_demand"] for p in g5["prices"] if p["region"] == "eu-west-1")
    assert "p4de.24xlarge" not in {i["name"] for i in eu}  # not sold there
    text = lat.run("instances", "--gpu", "v100").stdout
    assert text.splitlines()[0].split() == ["instance", "provider", "GPUs", "vCPUs", "memory", "$/h", "on-demand",
                                            "$/h", "spot"]
    assert "p3.2xlarge" in text and "LATTICE_CATALOG" in text
    unknown = usage_error(lat, "instances", "--gpu", "V10")
    assert unknown.startswith("lattice: --gpu 'V10' is not a GPU model of the catalog (did you mean V100?); known: ")
    assert "A100" in unknown and "H100" in unknown


def test_compare_one_row_per_provider_sorted(lat):
    doc = lat.json("instances", "compare", "--gpus", "1", "--gpu-memory", "24G", "--hours", "8")
    offers = doc["offers"]
    providers = [o["provider"] for o in offers]
    assert len(providers) == len(set(providers)) == 8
    assert [o["cost"] for o in offers] == sorted(o["cost"] for o in offers)
    for o in offers:
        assert o["gpu_memory_bytes"] >= 24 * GiB and o["nodes"] == 1
        assert o["cost"] == pytest.approx(o["per_hour"] * 8)
        assert o["ratio"] == pytest.approx(o["cost"] / offers[0]["cost"])
    assert next(o for o in offers if o["provider"] == "aws")["instance"] == "g6.xlarge"
    text = lat.run("instances", "compare", "--gpus", "1", "--gpu-memory", "24G", "--hours", "8").stdout
    assert text.startswith("1 GPU with at least 24 GiB each, for 8 h, on-demand")
    assert "cost 8 h" in text and "× cheapest" in text
    spot = lat.json("instances", "compare", "--gpus", "16", "--gpu-memory", "80G", "--hours", "2", "--spot")
    assert spot["offers"] and not {"lambda", "modal"} & {o["provider"] for o in spot["offers"]}
    for o in spot["offers"]:
        assert o["nodes"] * o["gpus_per_node"] == 16 and o["per_hour"] == pytest.approx(o["spot_per_hour"])
    assert "--hours '0'" in usage_error(lat, "instances", "compare", "--hours", "0")
    assert "--gpu-memory '24' must be a GPU memory size with its unit" in usage_error(
        lat, "instances", "compare", "--gpu-memory", "24")


def test_run_dry_run_with_catalog_instance_types(lat, script_dir):
    script = write_script(script_dir, "train.py", "print(1)\n")
    text = lat.run("run", "--dry-run", "--instance_type", "g5.12xlarge", "--gpus", "8", script).stdout
    assert "1 experiment × 2 nodes × 4 GPUs = 8 GPUs" in text
    doc = json.loads(lat.run("run", "--dry-run", "--json", "--instance-type", "G5.12XLARGE", "--gpus", "8",
                             script).stdout)
    assert doc["total"] == {"experiments": 1, "nodes": 2, "gpus": 8, "cpus": 2}  # --cpus stays what was asked
    grid = json.loads(lat.run("run", "--dry-run", "--json", "--instance_type", "4_v100_32gb", "--gpus", "8",
                              script).stdout)
    assert grid["total"]["nodes"] == 2


def test_bad_instance_types_and_impossible_requests(lat, script_dir):
    script = write_script(script_dir, "train.py", "print(1)\n")
    run = ("run", "--dry-run")
    assert usage_error(lat, *run, "--instance_type", "g5.xlarg", script) == (
        "lattice: --instance_type 'g5.xlarg' is not in the instance catalog: did you mean g5.xlarge? (lattice "
        "instances lists them); or use a descriptive name, GPUs_model_memory like 8_v100_32gb or CPUs_cpu_memory "
        "like 4_cpu_16gb")
    assert "did you mean one of p4d.24xlarge, p4de.24xlarge?" in usage_error(lat, *run, "--instance_type", "p4d",
                                                                             script)
    assert usage_error(lat, *run, "--gpus", "16", "--instance_type", "g4dn.xlarge", script) == (
        "lattice: --gpus 16 on g4dn.xlarge (1 T4 each) would be 16 separate 1-GPU machines, not one training; "
        "ask for --instance_type g4dn.metal --gpus 16 (2 nodes of 8 T4)")
    assert usage_error(lat, *run, "--gpus", "3", "--instance_type", "g5.12xlarge", script) == (
        "lattice: --gpus 3 is not a whole number of g5.12xlarge nodes (4 GPUs each): ask for 4, 8, 12, ...")
    assert usage_error(lat, *run, "--gpus", "5", "--instance_type", "4_v100_32gb", script) == (
        "lattice: --gpus 5 is not a whole number of 4_v100_32gb nodes (4 GPUs each): ask for 4, 8, 12, ...")
    assert usage_error(lat, *run, "--gpus", "1", "--instance_type", "2_cpu_8gb", script) == (
        "lattice: --gpus 1 cannot run on 2_cpu_8gb, which has no GPUs")
    assert usage_error(lat, *run, "--cpus", "8", "--instance_type", "g5.xlarge", script) == (
        "lattice: --cpus 8 per node is more than g5.xlarge has (4 vCPUs)")


def test_lattice_catalog_replaces_the_built_in_one_and_a_bad_file_is_named(lat, tmp_path, script_dir):
    mine = tmp_path / "mine.yaml"
    mine.write_text("""as_of: 2027-01-15
currency: USD
sources:
  - {provider: lab, url: "https://example.org/prices", note: "our negotiated rate"}
instances:
  - {name: lab-a100-8x, provider: lab, gpu: A100, gpus: 8, gpu_memory: 80G, vcpus: 64, memory: 1000G,
     prices: [{region: home, on_demand: 9.5}]}
""")
    lat.env["LATTICE_CATALOG"] = str(mine)
    doc = lat.json("instances")
    assert doc["as_of"] == "2027-01-15" and doc["catalog_file"] == str(mine)
    assert [i["name"] for i in doc["instances"]] == ["lab-a100-8x"]
    assert lat.json("estimate", "--params", "7B")["instances"][0]["name"] == "lab-a100-8x"
    script = write_script(script_dir, "train.py", "print(1)\n")
    assert json.loads(lat.run("run", "--dry-run", "--json", "--instance_type", "lab-a100-8x", "--gpus", "16",
                              script).stdout)["total"]["nodes"] == 2

    bad = tmp_path / "bad.yaml"
    bad.write_text(mine.read_text().replace("gpu_memory: 80G", "gpu_memory: 80"))
    lat.env["LATTICE_CATALOG"] = str(bad)
    for args in (("estimate", "--params", "7B"), ("instances",), ("instances", "compare", "--gpu-memory", "24G")):
        assert usage_error(lat, *args) == (
            f"lattice: catalog {bad} (LATTICE_CATALOG): instances[0] (lab-a100-8x): gpu_memory '80' needs a unit "
            "like 24G (line 6)")
    bad.write_text(mine.read_text().replace("on_demand: 9.5", "on_demand: 9.5, spot: 12"))
    assert "spot 12 is above on_demand 9.5" in usage_error(lat, "instances")
    lat.env["LATTICE_CATALOG"] = str(tmp_path / "missing.yaml")
    proc = lat.run("instances", check=False)
    assert proc.returncode != 0 and f"catalog {tmp_path / 'missing.yaml'} (LATTICE_CATALOG)" in proc.stderr
