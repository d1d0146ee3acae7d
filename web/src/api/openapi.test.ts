// @vitest-environment node
// Keeps the client honest about api/openapi.yaml: the generated types must be current, and every route the
// client calls must exist in the spec.
import { describe, expect, it } from "vitest";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { parse } from "yaml";
import { ROUTES } from "./client";
// Read as text by Vite (`?raw`), so the test needs no Node typings.
import specText from "../../../api/openapi.yaml?raw";
import schemaText from "./schema.d.ts?raw";

describe("api/openapi.yaml", () => {
  it("matches the committed schema.d.ts (run `npm run gen:api` after changing the spec)", async () => {
    const generated = COMMENT_HEADER + astToString(await openapiTS(specText, { silent: true }));
    expect(schemaText === generated, "src/api/schema.d.ts is stale: run `npm run gen:api`").toBe(
      true,
    );
  }, 30_000);

  it("has every route the client calls", () => {
    const spec: unknown = parse(specText);
    const paths =
      typeof spec === "object" && spec !== null && "paths" in spec && typeof spec.paths === "object"
        ? (spec.paths as Record<string, Record<string, unknown> | undefined>)
        : {};
    const missing = Object.entries(ROUTES)
      .filter(([, r]) => paths[r.path]?.[r.method.toLowerCase()] === undefined)
      .map(([name, r]) => `${name}: ${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });
});
