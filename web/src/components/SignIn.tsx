import { useState, type FormEvent } from "react";
import { setToken } from "../api/auth";

// Asked for when the server answers 401: the token is in $LATTICE_HOME/token on the server's machine, or in
// the URL `lattice ui --with-token` prints.
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [value, setValue] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim() === "") return;
    setToken(value);
    setValue("");
    onSignedIn();
  };
  return (
    <section className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <p>
        This server needs its API token. It is in <code>$LATTICE_HOME/token</code> on the server&apos;s machine;
        or open the URL that <code>lattice ui --with-token</code> prints.
      </p>
      <form onSubmit={submit}>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          type="password"
          autoComplete="current-password"
          autoFocus
          value={value}
          onChange={(e) => setValue(e.target.value)}
          data-testid="signin-token"
        />
        <button type="submit" disabled={value.trim() === ""} data-testid="signin-submit">
          Sign in
        </button>
      </form>
    </section>
  );
}
