// The web UI in a real browser: Debian's Chromium, driven by playwright-core,
// against a real server and agent running a real sweep of examples/digits
// (submitted by tests/test_web_ui.py just before this starts). Prints one
// line per check and exits non-zero at the first that fails; saves a
// screenshot of each page in SCREENSHOT_DIR.
//
//   LATTICE_UI_URL=http://127.0.0.1:PORT LATTICE_TOKEN=... LATTICE_RUN=NAME \
//   LATTICE_EXPERIMENTS=2 SCREENSHOT_DIR=DIR node web/e2e/ui.e2e.mjs
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { apiClient, env, launch, metricNumber, waitFor } from "./lib.mjs";

const base = env("LATTICE_UI_URL");
const token = process.env.LATTICE_TOKEN ?? "";
const runName = env("LATTICE_RUN");
const experiments = Number(env("LATTICE_EXPERIMENTS"));
const ranksRun = env("LATTICE_RANKS_RUN");  // one experiment of two ranks, each printing "line N of rank R"
const shots = env("SCREENSHOT_DIR");
mkdirSync(shots, { recursive: true });
const api = apiClient(base, token);

const testid = (id) => `[data-testid="${id}"]`;
let step = 0;
async function check(name, fn) {
  step += 1;
  const started = Date.now();
  await fn();
  console.log(`ok ${step} - ${name} (${Date.now() - started} ms)`);
}
async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

// The chart's own account of what it drew, set after each draw.
async function chartState(page, key) {
  const chart = page.locator(`${testid("metric-chart")}[data-key="${key}"]`).first();
  await chart.waitFor({ state: "attached", timeout: 20000 });
  return {
    count: Number(await chart.getAttribute("data-series-count")),
    last: JSON.parse((await chart.getAttribute("data-last-values")) ?? "[]").map(metricNumber),
  };
}

// The last value of each experiment's `key` according to the API.
async function lastValues(run, key, ids) {
  const summary = await api(`/runs/${run}/metrics`);
  return ids.map((id) => {
    const entry = summary.experiments.find((e) => e.experiment === id);
    if (!entry?.metrics[key]) throw new Error(`experiment ${id} of ${run} has no ${key}`);
    return metricNumber(entry.metrics[key].last);
  });
}

function sameValues(got, want) {
  const close = (g, w) => Math.abs(g - w) <= 1e-6 * Math.max(1, Math.abs(w));
  return got.length === want.length && got.every((g, i) => close(g, want[i]));
}

async function waitChart(page, key, ids, run = runName) {
  const want = await lastValues(run, key, ids);
  let got = null;
  await waitFor(`chart ${key} to draw ${ids.length} series with last values ${JSON.stringify(want)}`, async () => {
    got = await chartState(page, key);
    return got.count === ids.length && sameValues(got.last, want);
  }, 20000).catch((e) => {
    throw new Error(`${e.message}; it shows ${JSON.stringify(got)}`);
  });
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  await check("the experiment page streams the log while the run goes", async () => {
    // Open with the token in the fragment, as `lattice ui --with-token` prints it.
    await page.goto(`${base}/runs/${runName}/experiments/0#token=${token}`);
    await page.locator(testid("log-line")).filter({ hasText: /epoch \d+\// }).first().waitFor({ timeout: 60000 });
    const run = await api(`/runs/${runName}`);
    const state = run.experiments[0].state;
    if (state !== "running") throw new Error(`the first epoch line showed up only when the experiment was ${state}`);
    if (page.url().includes("token=")) throw new Error(`the token stayed in the address bar: ${page.url()}`);
    await shot(page, "experiment-running");
  });

  await check("the run ends", async () => {
    const ended = async () => (await api(`/runs/${runName}`)).state === "succeeded";
    await waitFor(`run ${runName} to end`, ended, 180000, 500);
  });

  await check("the experiment page shows the whole log, its charts, attempts and artifacts, and downloads one",
    async () => {
    await page.reload();
    await page.locator(testid("log-line")).filter({ hasText: "final test accuracy" }).first()
      .waitFor({ timeout: 20000 });
    await waitChart(page, "loss", [0]);
    await page.locator(testid("artifact-row")).first().waitFor({ timeout: 20000 });
    // The newest checkpoint file, downloaded through the page (with the token), is the stored blob.
    const files = (await api(`/runs/${runName}/artifacts?experiment=0&kind=checkpoint`)).artifacts;
    const newest = files[files.length - 1];
    const row = page.locator(testid("artifact-row")).filter({ hasText: newest.path }).last();
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 20000 }),
      row.locator(testid("artifact-download")).click()]);
    const saved = await download.path();
    const sha = createHash("sha256").update(readFileSync(saved)).digest("hex");
    if (sha !== newest.sha256 || download.suggestedFilename() !== newest.path.split("/").pop())
      throw new Error(`downloaded ${download.suggestedFilename()} (sha256 ${sha}), expected ${newest.path} ` +
        `(sha256 ${newest.sha256})`);
    const attempts = await page.locator(testid("attempt-row")).count();
    if (attempts !== 1) throw new Error(`expected 1 attempt row, got ${attempts}`);
    await page.locator(testid("log-search")).fill("final test accuracy");
    await page.locator(testid("log-jump-end")).click();
    await shot(page, "experiment");
  });

  await check("the log shows every rank's lines, and one rank alone when picked", async () => {
    await page.goto(`${base}/runs/${ranksRun}/experiments/0`);
    const lines = page.locator(testid("log-line"));
    await waitFor("6 rank lines", async () => (await lines.filter({ hasText: /line \d of rank \d/ }).count()) === 6,
      60000);
    for (const rank of [0, 1])
      if ((await lines.filter({ hasText: `[rank ${rank}] line 1 of rank ${rank}` }).count()) !== 1)
        throw new Error(`rank ${rank}'s first line is not shown with its prefix`);
    await page.locator(testid("log-rank")).selectOption("1");
    await waitFor("only rank 1's lines", async () => {
      const texts = await lines.allInnerTexts();
      const ours = texts.filter((t) => /line \d of rank \d/.test(t));
      return ours.length === 3 && ours.every((t) => t.includes("of rank 1"));
    }, 10000);
    await shot(page, "experiment-ranks");
  });

  await check("the runs page lists the run, and search filters it", async () => {
    await page.locator(testid("nav-runs")).click();
    const row = page.locator(`${testid("run-row")}[data-run="${runName}"]`);
    await row.waitFor({ timeout: 20000 });
    await shot(page, "runs");
    await page.locator(testid("runs-search")).fill("no-such-run-anywhere");
    await row.waitFor({ state: "detached", timeout: 10000 });
    await page.locator(testid("runs-search")).fill(runName);
    await row.waitFor({ timeout: 10000 });
  });

  await check("the run page tables the experiments and compares their curves", async () => {
    await page.locator(`${testid("run-row")}[data-run="${runName}"] a`).first().click();
    await page.waitForURL(`**/runs/${runName}`);
    await waitFor(`${experiments} experiment rows`, async () =>
      (await page.locator(testid("experiment-row")).count()) === experiments);
    const state = await page.locator(testid("run-state")).innerText();
    if (!state.includes("succeeded")) throw new Error(`run-state says ${state}`);
    // The test's cluster is unpriced: the header says so (docs/cost.md).
    await page.locator(testid("run-cost")).filter({ hasText: "free" }).waitFor({ timeout: 10000 });
    const ids = [...Array(experiments).keys()];
    await waitChart(page, "loss", ids);
    await shot(page, "run");
  });

  await check("the nodes page shows the agent's node", async () => {
    await page.locator(testid("nav-nodes")).click();
    await page.locator(testid("node-row")).first().waitFor({ timeout: 20000 });
    const nodes = await api("/nodes");
    const rows = await page.locator(testid("node-row")).count();
    if (rows !== nodes.nodes.length) throw new Error(`${rows} node rows for ${nodes.nodes.length} nodes`);
    await shot(page, "nodes");
  });

  let rerun = "";
  await check("run again with changed arguments, then cancel it", async () => {
    await page.goto(`${base}/runs/${runName}`);
    await page.locator(testid("rerun")).click();
    await page.locator(testid("rerun-args")).fill("--epochs 100000 --lr 0.05");
    await page.locator(testid("rerun-submit")).click();
    await page.waitForURL((url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(`/${runName}`),
      { timeout: 20000 });
    rerun = decodeURIComponent(new URL(page.url()).pathname.split("/")[2]);
    const doc = await api(`/runs/${rerun}`);
    if (doc.experiments.length !== 1 || !doc.experiments[0].args.includes("0.05"))
      throw new Error(`the new run has ${JSON.stringify(doc.experiments.map((e) => e.args))}`);
    await waitFor(`${rerun} to run`, async () => (await api(`/runs/${rerun}`)).state === "running", 60000, 200);
    await page.locator(testid("cancel-run")).click();
    await page.locator(testid("confirm-yes")).click();
    await waitFor(`${rerun} to be cancelled`, async () => (await api(`/runs/${rerun}`)).state === "cancelled",
      60000, 200);
    await page.locator(testid("run-state")).filter({ hasText: "cancelled" }).waitFor({ timeout: 10000 });
    await shot(page, "run-cancelled");
  });

  await check("the keyboard reaches a run and opens it", async () => {
    await page.goto(`${base}/`);
    await page.locator(`${testid("run-row")}[data-run="${runName}"]`).waitFor({ timeout: 20000 });
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() =>
        document.activeElement?.closest("[data-run]")?.getAttribute("data-run"));
      if (focused === runName) break;
    }
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/runs/${runName}`, { timeout: 10000 });
  });

  await check("at phone width the pages fit the screen", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const small = await phone.newPage();
    const pages = [["/", "phone-runs", "run-row"], [`/runs/${runName}`, "phone-run", "experiment-row"],
      [`/runs/${runName}/experiments/1`, "phone-experiment", "log-line"], ["/nodes", "phone-nodes", "node-row"]];
    for (const [path, name, ready] of pages) {
      await small.goto(`${base}${path}#token=${token}`);  // a new context: its own storage
      await small.locator(testid(ready)).first().waitFor({ timeout: 20000 });
      const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) throw new Error(`${path} is ${overflow}px wider than the phone's screen`);
      await shot(small, name);
    }
    await phone.close();
  });

  if (errors.length) throw new Error(`the page threw: ${errors.join("; ")}`);
  console.log(`ui: ${step} checks passed; screenshots in ${shots}`);
} catch (e) {
  console.log(`not ok ${step + 1} - ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
