// The app's routes, matched from and written to the address bar's path (the history API; the server answers
// index.html for any extensionless path, so a reload of a deep link works).

export type Route =
  | { name: "runs" }
  | { name: "run"; run: string }
  | { name: "experiment"; run: string; experiment: number }
  | { name: "nodes" }
  | { name: "notFound"; path: string };

// Fired on window after navigate() changes the path (popstate covers the back/forward buttons).
export const NAVIGATE_EVENT = "lattice:navigate";

function decode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null; // a malformed escape: the path matches no route
  }
}

export function matchRoute(pathname: string): Route {
  const trimmed = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  if (trimmed === "/" || trimmed === "") return { name: "runs" };
  if (trimmed === "/nodes") return { name: "nodes" };
  const parts = trimmed.split("/").slice(1);
  if (parts[0] === "runs" && parts.length >= 2) {
    const run = decode(parts[1] ?? "");
    if (run !== null && run !== "") {
      if (parts.length === 2) return { name: "run", run };
      if (parts.length === 4 && parts[2] === "experiments" && /^[0-9]+$/.test(parts[3] ?? "")) {
        return { name: "experiment", run, experiment: Number(parts[3]) };
      }
    }
  }
  return { name: "notFound", path: pathname };
}

export function hrefFor(route: Route): string {
  switch (route.name) {
    case "runs":
      return "/";
    case "nodes":
      return "/nodes";
    case "run":
      return `/runs/${encodeURIComponent(route.run)}`;
    case "experiment":
      return `/runs/${encodeURIComponent(route.run)}/experiments/${route.experiment}`;
    case "notFound":
      return route.path;
  }
}

export const runHref = (run: string): string => hrefFor({ name: "run", run });
export const experimentHref = (run: string, experiment: number): string =>
  hrefFor({ name: "experiment", run, experiment });

// Goes to `href` inside the app without reloading the page.
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

// Whether a click on a link should be left to the browser (new tab, download, another button...).
export function isPlainClick(e: { button: number; metaKey: boolean; ctrlKey: boolean; shiftKey: boolean;
  altKey: boolean; defaultPrevented: boolean }): boolean {
  return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey && !e.defaultPrevented;
}
