// A frontend on its own origin logging in to the API with the generated client (openapi-fetch on
// openapi-typescript's types), as a Next.js app would. tests/test_browser.py bundles it with
// esbuild, serves it and drives it in Chromium; each step is written to the page and to
// window.steps, for the test to read and the screenshot to show.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./build/schema";

type Problem = components["schemas"]["Problem"];
type Step = { step: string; status: number; detail: string };

const api = new URL(location.href).searchParams.get("api") ?? "http://localhost:8000";
const steps: Step[] = [];
(window as unknown as { steps: Step[] }).steps = steps;

// The CSRF token comes from GET /api/auth/csrf (this page cannot read the API's cookies) and goes
// back in X-CSRFToken on every unsafe request; logging in rotates it.
let csrfToken = "";
const csrf: Middleware = {
  onRequest({ request }) {
    if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) request.headers.set("X-CSRFToken", csrfToken);
    return request;
  },
};
const client = createClient<paths>({ baseUrl: api, credentials: "include" });
client.use(csrf);

function record(step: string, status: number, detail: string): void {
  steps.push({ step, status, detail });
  const row = document.createElement("li");
  row.textContent = `${step}: ${status} ${detail}`;
  document.getElementById("steps")!.append(row);
}

function problem(error: Problem | undefined): string {
  return error ? `${error.type} - ${error.detail}` : "";
}

export async function logInAndOut(username: string, password: string): Promise<Step[]> {
  const token = await client.GET("/api/auth/csrf");
  csrfToken = token.data?.csrf_token ?? "";
  record("csrf", token.response.status, csrfToken ? "token received" : "no token");

  const wrong = await client.POST("/api/auth/login", { body: { username, password: `${password}-wrong` } });
  record("wrong password", wrong.response.status, problem(wrong.error));

  const login = await client.POST("/api/auth/login", { body: { username, password } });
  if (login.data) csrfToken = login.data.csrf_token;
  record("login", login.response.status, login.data ? `logged in as ${login.data.user.username}` : problem(login.error));

  const me = await client.GET("/api/auth/me");
  record("me", me.response.status, me.data ? `${me.data.username} (staff: ${me.data.is_staff})` : problem(me.error));

  const test = await client.POST("/api/config/database/test");
  record("database test", test.response.status, test.data ? `ok: ${test.data.ok}` : problem(test.error));

  const logout = await client.POST("/api/auth/logout");
  record("logout", logout.response.status, logout.error ? problem(logout.error) : "logged out");

  const after = await client.GET("/api/auth/me");
  record("me after logout", after.response.status, after.data ? after.data.username : problem(after.error));
  return steps;
}

export async function fetchToken(): Promise<string> {
  try {
    const token = await client.GET("/api/auth/csrf");
    return `status ${token.response.status}`;
  } catch (error) {
    return `refused: ${error}`; // what fetch raises when CORS blocks the response
  }
}

Object.assign(window, { logInAndOut, fetchToken });
