import { expect, test } from "@playwright/test";
import { company, send, settled } from "./helpers";

function unique(info: { project: { name: string } }, what: string) {
  return `${what}-${info.project.name.replace("chromium-", "")}-${Date.now().toString(36)}`;
}

test("a risky fix waits for approval; the admin approves it and watches it finish", async ({ page, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const { key } = await company(page.request, unique(info, "fx"));
  // A high-risk playbook that waits a moment and then checks the error stayed away, written
  // in the form editor.
  await page.goto("/playbooks");
  await settled(page, js);
  await page.locator("#pf-name").fill("Drain and wait");
  await page.locator("#pf-pattern").fill("queue is stuck");
  await page.locator("#pf-steps-0-kind").selectOption("wait");
  await page.locator("#pf-steps-0-secs").fill("1");
  await page.locator("#pf-verify").selectOption("no_recurrence");
  await page.locator("#pf-verify-secs").fill("1");
  await page.locator("#pf-risk").selectOption("high");
  await page.locator("#pf-enabled").check();
  await page.locator("#save-playbook").click();
  const row = page.locator("#playbooks tr", { hasText: "Drain and wait" });
  await expect(row).toContainText("wait 1 s");
  await expect(row).toContainText("needs approval");
  await expect(row.locator(".badge")).toHaveText("enabled");
  const group = (await send(page.request, key, { service: "worker", severity: "error", error_type: "QueueStuck", message: "queue is stuck <i>again</i>" })).group_id;

  // "Fix it" on the error's page: the run waits for approval.
  await page.goto(`/errors/${group}`);
  await settled(page, js);
  await expect(page.locator("#group-fixes")).toContainText("No fix has run on this error.");
  await page.locator("#fix-playbook").selectOption({ label: "Drain and wait" });
  await page.locator("#fix-it").click();
  await expect(page.locator("#group-fix-runs li").first()).toContainText("waiting for approval");
  await expect(page.locator("#group-fix-runs li").first()).toContainText("Drain and wait");

  // The auto-fix log lists it, and says runs wait.
  await page.goto("/fixes");
  await settled(page, js);
  await expect(page.locator("#pending-approval")).toContainText("1 fix run waits for an admin's approval.");
  const run = page.locator("#fix-runs tbody tr").first();
  await expect(run.locator(".run-status")).toHaveText("waiting for approval");
  await expect(run).toContainText("QueueStuck: queue is stuck <i>again</i>");
  await run.getByRole("link", { name: /^#\d+$/ }).click();
  await expect(page).toHaveURL(/\/fixes\/\d+$/);
  await settled(page, js);
  await expect(page.locator("#no-steps")).toBeVisible();

  // Approve: it runs its step, verifies and succeeds; the page follows it live (with
  // JavaScript) or on reload (without).
  await page.getByLabel("Notes").fill("ok, go");
  await page.getByRole("button", { name: "Approve and run" }).click();
  if (js) {
    await expect(page.locator("h1 .run-status")).toHaveText("succeeded", { timeout: 15_000 });
  } else {
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator("h1 .run-status").textContent();
        },
        { timeout: 15_000, intervals: [500] },
      )
      .toBe("succeeded");
  }
  await expect(page.locator("#fix-steps li")).toHaveCount(2);
  await expect(page.locator("#fix-steps li").nth(0)).toContainText("wait 1 s");
  await expect(page.locator("#fix-steps li").nth(1)).toContainText("no new event for 1 s");
  await expect(page.locator(".resolution")).toContainText("Decision notes: ok, go");

  // The error is resolved by the run, and its history says so.
  await page.goto(`/errors/${group}`);
  await settled(page, js);
  await expect(page.locator("#group-status")).toHaveText("resolved");
  await expect(page.locator("#activity")).toContainText("Fixed by the playbook “Drain and wait”");
});
