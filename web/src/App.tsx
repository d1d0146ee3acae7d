import { useEffect, useRef, useState } from "react";
import { UNAUTHORIZED_EVENT } from "./api/auth";
import { ConnectionStatus } from "./components/ConnectionStatus";
import { useRoute } from "./components/hooks";
import { Link } from "./components/Link";
import { SignIn } from "./components/SignIn";
import { ExperimentPage } from "./pages/ExperimentPage";
import { NodesPage } from "./pages/NodesPage";
import { RunPage } from "./pages/RunPage";
import { RunsPage } from "./pages/RunsPage";
import { MetricStreamsProvider } from "./components/MetricStreams";
import { hrefFor, matchRoute, type Route } from "./lib/router";

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case "runs":
      return <RunsPage />;
    case "run":
      return <RunPage key={route.run} run={route.run} />;
    case "experiment":
      return <ExperimentPage key={`${route.run}/${route.experiment}`} run={route.run} experiment={route.experiment} />;
    case "nodes":
      return <NodesPage />;
    case "notFound":
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <Link href="/">See the runs.</Link>
          </p>
        </section>
      );
  }
}

function pageTitle(route: Route): string {
  switch (route.name) {
    case "runs":
      return "Runs";
    case "run":
      return route.run;
    case "experiment":
      return `${route.run} #${route.experiment}`;
    case "nodes":
      return "Nodes";
    case "notFound":
      return "Not found";
  }
}

export function App() {
  const route = useRoute();
  const [needToken, setNeedToken] = useState(false);
  const [epoch, setEpoch] = useState(0); // bumped after sign-in so the page loads again with the token

  useEffect(() => {
    const on = () => setNeedToken(true);
    window.addEventListener(UNAUTHORIZED_EVENT, on);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, on);
  }, []);

  // After moving to another page, keyboard and screen reader users start at its content, not at the link
  // they followed (which is gone).
  const path = hrefFor(route);
  const firstPath = useRef(path);
  useEffect(() => {
    document.title = `${pageTitle(matchRoute(path))} · Lattice`;
    if (path !== firstPath.current) document.getElementById("main")?.focus({ preventScroll: true });
    firstPath.current = "";
  }, [path]);

  const section = route.name === "nodes" ? "nodes" : "runs";
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Lattice
        </Link>
        <nav aria-label="Main">
          <Link href="/" data-testid="nav-runs" aria-current={section === "runs" ? "page" : undefined}>
            Runs
          </Link>
          <Link href="/nodes" data-testid="nav-nodes" aria-current={section === "nodes" ? "page" : undefined}>
            Nodes
          </Link>
        </nav>
        <ConnectionStatus />
      </header>
      <main id="main" tabIndex={-1}>
        {needToken ? (
          <SignIn
            onSignedIn={() => {
              setNeedToken(false);
              setEpoch((e) => e + 1);
            }}
          />
        ) : (
          <MetricStreamsProvider>
            <Page key={epoch} route={route} />
          </MetricStreamsProvider>
        )}
      </main>
    </>
  );
}
