// The page's MetricStreamHub, handed to every chart through React context (see MetricPanelStream.ts for why
// the charts share their streams). The app makes one; a test makes its own.
import { createContext, useContext, useState, type ReactNode } from "react";

import { MetricStreamHub } from "./MetricPanelStream";

const MetricStreamsContext = createContext<MetricStreamHub | null>(null);

export function MetricStreamsProvider({ hub, children }: { hub?: MetricStreamHub; children: ReactNode }) {
  const [own] = useState(() => hub ?? new MetricStreamHub());
  return <MetricStreamsContext.Provider value={own}>{children}</MetricStreamsContext.Provider>;
}

export function useMetricStreams(): MetricStreamHub {
  const hub = useContext(MetricStreamsContext);
  if (hub === null) throw new Error("a live chart needs a <MetricStreamsProvider> above it");
  return hub;
}
