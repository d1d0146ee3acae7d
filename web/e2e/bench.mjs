// The browser half of bench/web_ui.py: Debian's Chromium, driven by
// playwright-core, measures one phase against a server the Python half
// prepared, and prints one JSON line per figure ({"figure": ..., "ms": [...]}).
// Times come from the page itself: performance marks the UI pushes onto
// window.__latticePerf (performance.now(), i.e. ms since the navigation
// started), and for logs the wall clock, which the script and the browser
// share on this machine.
//
//   BENCH_PHASE=log|chart|lists LATTICE_UI_URL=... [LATTICE_TOKEN=...] node web/e2e/bench.mjs
import { env, launch } from "./lib.mjs";

const base = env("LATTICE_UI_URL");
const token = process.env.LATTICE_TOKEN ?? "";
const phase = env("BENCH_PHASE");
const repeats = Number(process.env.BENCH_REPEATS ?? "5");
const fragment = token ? `#token=${token}` : "";

function emit(figure, values, extra = {}) {
  console.log(JSON.stringify({ figure, ms: values, ...extra }));
}

// The first mark called `name` (or starting with it), as recorded by the page.
async function markTime(page, name, timeoutMs = 30000) {
  const handle = await page.waitForFunction(
    (n) => (window.__latticePerf ?? []).find((m) => m.name === n)?.t,
    name, { timeout: timeoutMs, polling: 10 });
  return handle.jsonValue();
}

async function pageLoad(context, path, mark) {
  const page = await context.newPage();
  await page.goto(`${base}${path}${fragment}`, { waitUntil: "commit" });
  const t = await markTime(page, mark);
  return { page, t };
}

async function lists(context) {
  const runsTotal = Number(env("RUNS_TOTAL"));
  const bigRun = env("BIG_RUN");
  const bigExperiments = Number(env("BIG_EXPERIMENTS"));
  const runs = [];
  const run = [];
  let runsRows = 0;
  let runRows = 0;
  for (let i = 0; i < repeats; i++) {
    const a = await pageLoad(context, "/", "runs-interactive");
    runs.push(a.t);
    const total = (await a.page.locator('[data-testid="runs-total"]').innerText()).replace(/[^0-9]/g, "");
    if (Number(total) !== runsTotal) throw new Error(`the runs page says ${total} runs, expected ${runsTotal}`);
    runsRows = await a.page.locator('[data-testid="run-row"]').count();
    await a.page.close();
    const b = await pageLoad(context, `/runs/${bigRun}`, "run-interactive");
    run.push(b.t);
    await b.page.locator('[data-testid="experiment-row"]').first().waitFor();
    runRows = await b.page.locator('[data-testid="experiment-row"]').count();
    await b.page.close();
  }
  if (runsRows === 0 || runsRows >= runsTotal) throw new Error(`${runsRows} run rows in the page: not virtualised`);
  if (runRows === 0 || (bigExperiments > 200 && runRows >= bigExperiments))
    throw new Error(`${runRows} experiment rows in the page: not virtualised`);
  emit("runs_list_interactive", runs, { runs: runsTotal, rows_in_dom: runsRows });
  emit("run_page_interactive", run, { experiments: bigExperiments, rows_in_dom: runRows });
}

async function chart(context) {
  const run = env("CHART_RUN");
  const key = env("CHART_KEY");
  const series = Number(env("CHART_SERIES"));
  const drawn = [];
  const fetched = [];
  for (let i = 0; i < repeats; i++) {
    const page = await context.newPage();
    await page.goto(`${base}/runs/${run}${fragment}`, { waitUntil: "commit" });
    const data = await markTime(page, `chart-data:${key}`);
    const draw = await page.waitForFunction(
      ([k, after]) => (window.__latticePerf ?? []).find((m) => m.name === `chart-drawn:${k}` && m.t >= after)?.t,
      [key, data], { timeout: 30000, polling: 10 });
    drawn.push((await draw.jsonValue()) - data);
    fetched.push(data);
    const count = Number(await page.locator(`[data-testid="metric-chart"][data-key="${key}"]`).first()
      .getAttribute("data-series-count"));
    if (count !== series) throw new Error(`the chart drew ${count} series, expected ${series}`);
    await page.close();
  }
  emit("chart_draw_after_data", drawn, { series });
  emit("chart_data_after_navigation", fetched, { series });
}

async function log(context) {
  const run = env("LOG_RUN");
  const seconds = Number(env("LOG_SECONDS"));
  const page = await context.newPage();
  // Every log line put on the page: the wall clock when it was added, and
  // when the frame that shows it was painted.
  await page.addInitScript(() => {
    window.__latencies = [];
    const seen = new Set();
    new MutationObserver((mutations) => {
      const now = Date.now();
      for (const m of mutations)
        for (const node of m.addedNodes) {
          if (!(node instanceof HTMLElement)) continue;
          const lines = node.matches('[data-testid="log-line"]') ? [node]
            : [...node.querySelectorAll('[data-testid="log-line"]')];
          for (const line of lines) {
            const match = /LATENCY (\d+)/.exec(line.textContent ?? "");
            if (!match || seen.has(match[1])) continue;
            seen.add(match[1]);
            const printed = Number(match[1]);
            requestAnimationFrame(() =>
              window.__latencies.push({ printed, added: now - printed, painted: Date.now() - printed }));
          }
        }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(`${base}/runs/${run}/experiments/0${fragment}`);
  await page.locator('[data-testid="log-view"]').waitFor();
  // Lines printed before the page was up come as a backlog: only later ones count.
  const ready = Date.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const latencies = (await page.evaluate(() => window.__latencies)).filter((l) => l.printed > ready);
  if (latencies.length === 0) throw new Error(`no LATENCY line reached the page within ${seconds} s`);
  emit("log_line_on_screen", latencies.map((l) => l.painted), { lines: latencies.length });
  await page.close();
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (phase === "lists") await lists(context);
  else if (phase === "chart") await chart(context);
  else if (phase === "log") await log(context);
  else throw new Error(`unknown BENCH_PHASE ${phase}`);
} catch (e) {
  console.error(`bench: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
