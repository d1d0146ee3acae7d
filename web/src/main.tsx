import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { adoptTokenFromUrl } from "./api/auth";
import { initPerf } from "./lib/perf";
import { App } from "./App";
import "./styles.css";

initPerf();
adoptTokenFromUrl();

const root = document.getElementById("root");
if (root === null) throw new Error("index.html lacks the #root element");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
