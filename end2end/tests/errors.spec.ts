import { expect, test } from "@playwright/test";
import { company, expectNotReloaded, markPage, send, settled } from "./helpers";

const TRACE = [
  "Traceback (most recent call last):",
  '  File "/app/ledger/api.py", line 88, in post_entry',
  "    conn = pool.connect()",
  '  File "/usr/lib/python3.11/site-packages/psycopg/pool.py", line 42, in connect',
  "    raise ConnectionError()",
  "ConnectionError: connection refused",
].join("\n");

test("the feed lists, filters and opens groups; a group is resolved with notes and reopened", async ({ page, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const suffix = `${info.project.name.replace("chromium-", "")}-${Date.now().toString(36)}`;
  const { admin, key } = await company(page.request, `errs-${suffix}`);

  // Signed in (the request context shares the page's cookies); nothing sent yet: the page teaches how.
  await page.goto("/errors");
  await expect(page.locator(".email")).toHaveText(admin);
  await expect(page.getByRole("heading", { name: "No errors received yet" })).toBeVisible();
  await expect(page.locator("#first-error pre")).toContainText("/api/errors/log");

  for (let i = 0; i < 3; i++) {
    await send(page.request, key, {
      service: "ledger",
      severity: "error",
      error_type: "ConnectionError",
      message: `connection refused to db-${i}:5432`,
      stack_trace: TRACE,
      tags: { region: "eu-1" },
    });
  }
  await send(page.request, key, {
    service: "billing",
    severity: "critical",
    error_type: "OutOfMemory",
    message: "worker <b>killed</b>: out of memory",
  });

  await page.goto("/errors");
  await settled(page, js);
  const feed = page.locator("#error-feed");
  await expect(feed.locator("tbody tr")).toHaveCount(2);
  await expect(page.locator("#result-count")).toHaveText("2 matching groups");
  // Client text is shown, never interpreted.
  await expect(feed).toContainText("worker <b>killed</b>");
  await expect(feed.locator("b")).toHaveCount(0);
  const ledgerRow = feed.locator("tr", { hasText: "ConnectionError" });
  await expect(ledgerRow.locator(".count")).toHaveText("3");
  await page.screenshot({ path: info.outputPath("feed.png"), fullPage: true });

  // Search and filters live in the URL.
  await page.getByLabel("Search").fill("refused");
  await page.getByRole("button", { name: "Apply", exact: true }).click();
  await expect(page).toHaveURL(/[?&]q=refused/);
  await expect(feed.locator("tbody tr")).toHaveCount(1);
  await page.getByLabel("Severity").selectOption("critical");
  await page.getByRole("button", { name: "Apply", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Nothing matches" })).toBeVisible();
  await page.goBack();
  await expect(page).toHaveURL(/[?&]q=refused/);
  await expect(feed.locator("tbody tr")).toHaveCount(1);

  // The group page: header, latest event with the in-app frame highlighted, history.
  await feed.getByRole("link", { name: /ConnectionError/ }).click();
  await expect(page).toHaveURL(/\/errors\/\d+$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("ConnectionError: connection refused to db-");
  await expect(page.locator("#group-count")).toHaveText("3");
  await expect(page.locator("svg.hourly rect")).toHaveCount(48);
  await expect(page.locator("svg.hourly")).toHaveAttribute("aria-label", /^3 events in the last 48 hours/);
  await expect(page.locator("#stack-trace .in-app").first()).toContainText("/app/ledger/api.py");
  await expect(page.locator("#stack-trace .lib").first()).toContainText("site-packages");
  await expect(page.locator("#activity")).toContainText("first seen");
  await settled(page, js);
  await page.screenshot({ path: info.outputPath("detail.png"), fullPage: true });

  // Resolve with notes: works before hydration (form post + redirect) and after it.
  await markPage(page, js);
  const resolved = page.waitForResponse((r) => r.url().endsWith("/api/ui/errors/resolve"));
  await page.getByLabel("Resolution notes").fill("raised the pool size to 40");
  await page.getByRole("button", { name: "Resolve" }).click();
  expect((await resolved).status()).toBe(302);
  await expect(page.locator("#group-status")).toHaveText("resolved");
  await expectNotReloaded(page, js);
  await expect(page.locator("#activity li").first()).toContainText("resolved");
  await expect(page.locator("#activity li").first()).toContainText("raised the pool size to 40");
  await expect(page.locator("#activity li").first()).toContainText(admin);

  await settled(page, js);
  await page.getByLabel("Comment").fill("watching the <i>next</i> deploy");
  await page.getByRole("button", { name: "Add comment" }).click();
  await expect(page.locator("#activity li").first()).toContainText("watching the <i>next</i> deploy");

  await settled(page, js);
  await page.getByRole("button", { name: "Reopen" }).click();
  await expect(page.locator("#group-status")).toHaveText("unresolved");
  await expect(page.locator("#activity li").first()).toContainText("reopened");

  // Assign it to a member of the company.
  await settled(page, js);
  await page.getByLabel("Assign to").selectOption({ label: admin });
  await page.getByRole("button", { name: "Assign" }).click();
  await expect(page.locator("#group-assignee")).toHaveText(admin);
  await expect(page.locator("#activity li").first()).toContainText(`to ${admin}`);

  // Ignore until 2 more events: it comes back by itself when they arrive.
  await settled(page, js);
  await page.getByLabel("Ignore").selectOption("count");
  await page.getByLabel("N", { exact: true }).fill("2");
  await page.getByRole("button", { name: "Ignore", exact: true }).click();
  await expect(page.locator("#group-status")).toHaveText("ignored");
  await expect(page.locator("#activity li").first()).toContainText("until 2 more events");
  const again = {
    service: "ledger",
    severity: "error",
    error_type: "ConnectionError",
    message: "connection refused to db-7:5432",
    stack_trace: TRACE,
  };
  await send(page.request, key, again);
  await page.reload();
  await expect(page.locator("#group-status")).toHaveText("ignored");
  await send(page.request, key, again);
  await page.reload();
  await expect(page.locator("#group-status")).toHaveText("unresolved");
  await expect(page.locator("#activity li").first()).toContainText("reopened");
  await expect(page.locator("#group-count")).toHaveText("5");

  // Another company's group, or no group at all: the 404 page.
  const missing = await page.goto("/errors/999999999");
  expect(missing?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("the feed shows new groups and rising counts without a reload", async ({ page, javaScriptEnabled }, info) => {
  test.skip(!javaScriptEnabled, "live updates need JavaScript");
  const suffix = `live-${Date.now().toString(36)}`;
  const { key } = await company(page.request, `errs-${suffix}`);
  const first = { service: "queue", severity: "error", error_type: "TimeoutError", message: "job 1 timed out after 30 s" };
  await send(page.request, key, first);

  await page.goto("/errors");
  await page.waitForLoadState("networkidle");
  const feed = page.locator("#error-feed");
  await expect(feed.locator("tbody tr")).toHaveCount(1);
  // A marker that a reload would wipe out.
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "still here"));

  await send(page.request, key, { service: "mailer", severity: "warning", error_type: "SmtpError", message: "relay refused" });
  await expect(feed.locator("tbody tr")).toHaveCount(2);
  await send(page.request, key, first);
  await send(page.request, key, first);
  const timeouts = feed.locator("tr", { hasText: "TimeoutError" }).locator(".count");
  await expect(timeouts).toHaveText("3");
  expect(await page.evaluate(() => (window as unknown as { marker: string }).marker)).toBe("still here");

  // Filtered: changes are announced, not applied under the reader's eyes.
  await page.goto("/errors?severity=error");
  await page.waitForLoadState("networkidle");
  await expect(timeouts).toHaveText("3");
  await send(page.request, key, first);
  await expect(page.locator("#show-new")).toHaveText("1 update — show");
  await expect(timeouts).toHaveText("3");
  await page.locator("#show-new").click();
  await expect(timeouts).toHaveText("4");
  await expect(page.locator("#show-new")).toHaveCount(0);
});
