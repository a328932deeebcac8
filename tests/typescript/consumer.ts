// What the frontend writes against the generated types: it must type-check, and the lines
// marked ts-expect-error prove the types are precise (a wrong field or status does not compile).
import type { components, operations } from "./build/schema";

type Liveness = components["schemas"]["Liveness"];
type Problem = components["schemas"]["Problem"];
type DatabaseHealth =
  operations["checkDatabase"]["responses"][200]["content"]["application/json"];
type DatabaseDown =
  operations["checkDatabase"]["responses"][503]["content"]["application/problem+json"];
type NotReady =
  operations["checkReadiness"]["responses"][503]["content"]["application/problem+json"];
type StaffOnly =
  operations["validateConfig"]["responses"][401]["content"]["application/problem+json"];

export function describe(health: Liveness): string {
  const status: "ok" = health.status;
  return `${status} ${health.version} ${health.environment} ${health.uptime_seconds.toFixed(1)}`;
}

export function latency(result: DatabaseHealth): number {
  return result.database.latency_ms + (result.database.pool?.size ?? 0);
}

export function explain(problem: Problem | DatabaseDown | StaffOnly): string {
  const pointers = (problem.errors ?? []).map((error) => error.pointer ?? error.parameter ?? "");
  return `${problem.status} ${problem.type} ${problem.title}: ${problem.detail} [${problem.request_id}] ${pointers}`;
}

export function failing(problem: NotReady): string[] {
  return Object.keys(problem.checks);
}

// @ts-expect-error: liveness has no such field
export const wrong: Liveness["uptime"] = 0;
// @ts-expect-error: the status is a number
export const badStatus: Problem = { type: "", title: "", status: "503", detail: "", instance: "", request_id: "" };
