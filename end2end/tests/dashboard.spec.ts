import { expect, test, type APIRequestContext } from "@playwright/test";
import { JSON_ACCEPT, PASSWORD, company, send, settled } from "./helpers";

async function agentCall(request: APIRequestContext, key: string, name: string, body: object) {
  const res = await request.post(`/api/v1/${name}`, { headers: { Authorization: `Bearer ${key}` }, data: body });
  expect(res.status()).toBe(200);
  return res.json();
}

function unique(info: { project: { name: string } }, what: string) {
  return `${what}-${info.project.name.replace("chromium-", "")}-${Date.now().toString(36)}`;
}

test("overview, agents and stepping through a group's events", async ({ page, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const { key } = await company(page.request, unique(info, "ov"));
  await agentCall(page.request, key, "register_agent", { name: "fixer-1", kind: "remediator", version: "0.9.1", host: "node-a" });
  await agentCall(page.request, key, "heartbeat", { agent: "fixer-1", status: "online", metrics: { cpu: 0.37, queue_depth: 4 } });
  let group = 0;
  for (let i = 1; i <= 3; i++) {
    const r = await send(page.request, key, {
      service: "ledger",
      severity: "error",
      error_type: "ConnectionError",
      message: `connection refused to db-${i}:5432`,
      agent: "fixer-1",
    });
    group = r.group_id;
  }
  await send(page.request, key, { service: "billing", severity: "critical", error_type: "OutOfMemory", message: "worker <b>killed</b>" });

  // The overview: figures of the last 24 hours and the server-drawn chart.
  await page.goto("/");
  await settled(page, js);
  await expect(page.locator("#stat-events .stat-value")).toHaveText("4");
  await expect(page.locator("#stat-unresolved .stat-value")).toHaveText("2");
  await expect(page.locator("#stat-agents .stat-value")).toHaveText("1 / 1");
  await expect(page.locator("#trend-chart svg")).toBeVisible();
  await expect(page.locator("#trend-chart figcaption")).toContainText("1 critical, 3 error, 0 warning, 0 info");
  await expect(page.locator("#top-errors li").first()).toContainText("ConnectionError");
  await expect(page.locator("#recent-activity")).toContainText("worker <b>killed</b>");
  await page.screenshot({ path: info.outputPath("overview.png"), fullPage: true });
  await page.getByRole("link", { name: "7d" }).click();
  await expect(page).toHaveURL(/\/\?range=7d$/);
  await expect(page.locator("#trend-chart figcaption")).toContainText("per 6 hours over the last 7 days");
  await expect(page.getByRole("link", { name: "7d" })).toHaveAttribute("aria-current", "true");

  // Agents: health from heartbeats, then the agent's own page.
  await page.goto("/agents");
  await settled(page, js);
  const row = page.locator("#agents tr", { hasText: "fixer-1" });
  await expect(row.locator(".health")).toHaveText("online");
  await expect(row.locator("td").nth(5)).toHaveText("3");
  await row.getByRole("link", { name: "fixer-1" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("fixer-1");
  await expect(page.locator("#agent-metrics")).toContainText("queue_depth");
  await expect(page.locator("#agent-groups")).toContainText("ConnectionError");
  await expect(page.locator("#agent-chart svg")).toBeVisible();

  // A group's events, one after another.
  await page.goto(`/errors/${group}`);
  await settled(page, js);
  await expect(page.locator("#latest-h")).toHaveText("Latest event");
  await expect(page.locator("#event-message")).toHaveText("connection refused to db-3:5432");
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(page.locator("#latest-h")).toHaveText("Event");
  await expect(page.locator("#event-message")).toHaveText("connection refused to db-2:5432");
  await expect(page.locator("#events li.current")).toContainText("db-2");
  await settled(page, js);
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(page.locator("#event-message")).toHaveText("connection refused to db-1:5432");
  await settled(page, js);
  await page.getByRole("link", { name: "Latest" }).click();
  await expect(page.locator("#latest-h")).toHaveText("Latest event");
  await expect(page.locator("#event-message")).toHaveText("connection refused to db-3:5432");
});

test("bulk resolve; members and roles; a viewer cannot act; other companies' groups are not found", async ({ page, browser, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const other = await company(page.request, unique(info, "other"));
  const theirs = await send(page.request, other.key, { service: "vault", severity: "error", error_type: "SecretError", message: "other company's secret" });
  const slug = unique(info, "bulk");
  const { key } = await company(page.request, slug);
  await send(page.request, key, { service: "ledger", severity: "error", error_type: "ConnectionError", message: "refused" });
  const timeout = await send(page.request, key, { service: "queue", severity: "warning", error_type: "TimeoutError", message: "job timed out" });

  // Tick both groups and resolve them at once (a form the row checkboxes belong to).
  await page.goto("/errors");
  await settled(page, js);
  const feed = page.locator("#error-feed");
  await expect(feed.locator("tbody tr")).toHaveCount(2);
  await page.getByRole("checkbox", { name: /Select ConnectionError/ }).check();
  await page.getByRole("checkbox", { name: /Select TimeoutError/ }).check();
  if (js) {
    await expect(page.locator("#bulk-count")).toHaveText("2 selected:");
  }
  await page.getByLabel("Bulk action").selectOption("resolve");
  await page.getByRole("button", { name: "Apply to selected" }).click();
  await expect(page.locator("#result-count")).toHaveText("0 matching groups");
  await page.goto("/errors?status=resolved");
  await expect(page.locator("#error-feed tbody tr")).toHaveCount(2);

  // The admin adds a viewer in Settings.
  const viewer = `viewer@${slug}.test`;
  await page.goto("/settings");
  await settled(page, js);
  await page.getByLabel("E-mail").fill(viewer);
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByLabel("Initial password").fill(PASSWORD);
  await page.getByRole("button", { name: "Add member" }).click();
  await expect(page.locator("#members")).toContainText(viewer);

  // The viewer reads everything and can change nothing.
  const context = await browser.newContext({ javaScriptEnabled: js });
  const vp = await context.newPage();
  await vp.goto("/login");
  await vp.getByLabel("E-mail").fill(viewer);
  await vp.getByLabel("Password").fill(PASSWORD);
  await vp.getByRole("button", { name: "Sign in" }).click();
  await expect(vp.locator(".email")).toHaveText(viewer);
  await vp.goto("/errors?status=all");
  await expect(vp.locator("#error-feed tbody tr")).toHaveCount(2);
  await expect(vp.locator("#bulk-form")).toHaveCount(0);
  await expect(vp.getByRole("checkbox")).toHaveCount(0);
  await vp.goto(`/errors/${timeout.group_id}`);
  await expect(vp.locator("#group-status")).toHaveText("resolved");
  await expect(vp.getByRole("button", { name: /Resolve|Reopen|Assign|Ignore|Add comment/ })).toHaveCount(0);
  const refused = await vp.request.post("/api/ui/errors/reopen", { form: { id: String(timeout.group_id) }, headers: JSON_ACCEPT });
  expect(refused.status()).toBe(403);
  await vp.goto("/settings");
  await expect(vp.locator("#members")).toContainText(viewer);
  await expect(vp.locator("#add-member")).toHaveCount(0);
  await expect(vp.locator("#company-settings")).toContainText(`Company ${slug}`);
  await expect(vp.getByText("Only admins can change these.")).toBeVisible();

  // Another company's group, whatever the URL: the 404 page, nothing of it shown.
  const missing = await vp.goto(`/errors/${theirs.group_id}`);
  expect(missing?.status()).toBe(404);
  await expect(vp.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(vp.locator("body")).not.toContainText("other company's secret");
  await context.close();
});

test("playbooks: starters, enabling, a refused step, which playbooks match an error", async ({ page, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const { key } = await company(page.request, unique(info, "pb"));
  const group = (await send(page.request, key, { service: "db", severity: "error", error_type: "PoolTimeout", message: "connection pool exhausted after 30 s" })).group_id;

  await page.goto("/playbooks");
  await settled(page, js);
  await expect(page.getByRole("heading", { name: "No playbooks yet" })).toBeVisible();
  await page.getByRole("button", { name: "Add the starter playbooks" }).click();
  await expect(page.locator("#playbooks tbody tr")).toHaveCount(4);
  const pool = page.locator("#playbooks tr", { hasText: "Reset an exhausted connection pool" });
  await expect(pool.locator(".badge")).toHaveText("disabled");
  await settled(page, js);
  await pool.getByRole("button", { name: /^Enable / }).click();
  await expect(page.locator("#playbooks tr", { hasText: "Reset an exhausted connection pool" }).locator(".badge")).toHaveText("enabled");

  // A step aimed at the cloud metadata service is refused with its field named.
  if (js) {
    await settled(page, js);
    await page.locator(".json-editor summary").click();
    await page.getByLabel("Playbook JSON").fill(
      JSON.stringify({ name: "Steal credentials", actions: [{ type: "http", method: "GET", url: "http://169.254.169.254/latest/meta-data/" }], verify: null, risk: "low", mode: "manual" }),
    );
    await page.getByRole("button", { name: "Save JSON" }).click();
    await expect(page.locator("#spec-error")).toContainText("actions[0].url: link-local and cloud metadata addresses are never allowed");
    await expect(page.locator("#playbooks tbody tr")).toHaveCount(4);
  }

  // Which playbooks would act on the error just sent.
  await page.getByLabel("Error group id").fill(String(group));
  await page.getByRole("button", { name: "Test", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/playbooks\\?test=${group}$`));
  await expect(page.locator("#test-result")).toContainText("Reset an exhausted connection pool — enabled, automatic");
});
