import { useEffect, useState } from "react";
import { CONNECTION_EVENT } from "../api/client";

type Status = "connecting" | "live" | "offline";

function isConnectionDetail(d: unknown): d is { connected: boolean } {
  return typeof d === "object" && d !== null && "connected" in d && typeof d.connected === "boolean";
}

// Whether the live streams reach the server (they reconnect by themselves when it comes back).
export function ConnectionStatus() {
  const [status, setStatus] = useState<Status>("connecting");
  useEffect(() => {
    const on = (e: Event) => {
      if (e instanceof CustomEvent && isConnectionDetail(e.detail)) setStatus(e.detail.connected ? "live" : "offline");
    };
    window.addEventListener(CONNECTION_EVENT, on);
    return () => window.removeEventListener(CONNECTION_EVENT, on);
  }, []);
  const text = status === "live" ? "Connected" : status === "offline" ? "Reconnecting…" : "Connecting…";
  return (
    <span className={`conn conn-${status}`} role="status" data-testid="connection">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
