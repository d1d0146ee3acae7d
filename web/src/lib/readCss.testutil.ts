// Vitest stubs CSS imports (even `?raw`), so tests read a stylesheet from disk; the module's name is built at
// run time because the browser build has no typings for Node's modules. For tests in the node environment.
interface Fs {
  readFileSync(path: URL, encoding: "utf8"): string;
}
const fs = (await import(/* @vite-ignore */ ["node", "fs"].join(":"))) as Fs;

export function readCss(url: URL): string {
  return fs.readFileSync(url, "utf8");
}
