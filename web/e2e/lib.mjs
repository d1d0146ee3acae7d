// Shared by the browser test (ui.e2e.mjs) and the UI benchmark
// (bench/web_ui.py runs bench.mjs): starting Debian's Chromium through
// playwright-core, and talking to the server's API with the token.
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

export async function launch() {
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

// fetch against the API with the token (when the server requires one).
export function apiClient(base, token) {
  return async function api(path, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${base}/api/v1${path}`, { ...init, headers });
    const text = await response.text();
    if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

export async function waitFor(what, predicate, timeoutMs = 30000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// The numbers JSON cannot carry come as strings.
export function metricNumber(v) {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  throw new Error(`not a metric value: ${JSON.stringify(v)}`);
}
