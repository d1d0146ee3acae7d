// Where the API token lives in the browser. The server prints a URL with `#token=...`; the fragment never
// reaches the server's logs, and is removed from the address bar as soon as it has been read.

const STORAGE_KEY = "lattice.token";

// Fired on window when the server answers 401, so the app can ask for a token.
export const UNAUTHORIZED_EVENT = "lattice:unauthorized";

export function getToken(): string | null {
  try {
    const token = window.localStorage.getItem(STORAGE_KEY);
    return token === null || token === "" ? null : token;
  } catch {
    return null; // storage disabled: behave as if no token was given
  }
}

export function setToken(token: string): void {
  window.localStorage.setItem(STORAGE_KEY, token.trim());
}

export function clearToken(): void {
  window.localStorage.removeItem(STORAGE_KEY);
}

// Reads `token=` from a URL fragment such as `#token=abc&x=1`; returns the fragment without it.
export function splitTokenFragment(hash: string): { token: string | null; rest: string } {
  const body = hash.startsWith("#") ? hash.slice(1) : hash;
  if (body === "") return { token: null, rest: "" };
  const params = new URLSearchParams(body);
  const token = params.get("token");
  if (token === null) return { token: null, rest: hash };
  params.delete("token");
  const rest = params.toString();
  return { token, rest: rest === "" ? "" : `#${rest}` };
}

// Moves a `#token=` from the address bar into storage (called once on load).
export function adoptTokenFromUrl(): void {
  const { token, rest } = splitTokenFragment(window.location.hash);
  if (token === null) return;
  if (token !== "") setToken(token);
  const url = window.location.pathname + window.location.search + rest;
  window.history.replaceState(window.history.state, "", url);
}

export function notifyUnauthorized(): void {
  window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
}
