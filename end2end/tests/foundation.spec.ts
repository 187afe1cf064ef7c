import { expect, test, type Page } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, expectNotReloaded, markPage, settled } from "./helpers";

async function signIn(page: Page, js: boolean, email: string, password: string) {
  await page.goto("/login");
  await settled(page, js);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await expect(page.locator(".email")).toHaveText(email);
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible();
}

test("super-admin creates a company; its admin creates and revokes an API key", async ({ page, javaScriptEnabled }, info) => {
  const js = javaScriptEnabled;
  const suffix = `${info.project.name.replace("chromium-", "")}-${Date.now().toString(36)}`;
  const slug = `acme-${suffix}`;
  const tenantName = `Acme <b>${suffix}</b>`;
  const tenantAdmin = `boss-${suffix}@acme.test`;

  // Anonymous visitors are sent to the sign-in page.
  await page.goto("/settings");
  await expect(page).toHaveURL(/\/login\?next=/);

  await signIn(page, js, ADMIN_EMAIL, ADMIN_PASSWORD);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Admin" })).toBeVisible();
  await nav.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { name: "Companies", exact: true })).toBeVisible();
  await settled(page, js);

  // Bad input gets a field error, not a crash.
  const form = page.locator("#create-tenant");
  await form.getByLabel("Name").fill("Broken");
  await form.getByLabel("Slug").fill("Not a slug!");
  await form.getByLabel("First admin's e-mail").fill(tenantAdmin);
  await form.getByLabel("First admin's password").fill(PASSWORD);
  await form.getByRole("button", { name: "Create company" }).click();
  await expect(page.locator(".field-error")).toContainText("lower-case letters");

  await form.getByLabel("Name").fill(tenantName);
  await form.getByLabel("Slug").fill(slug);
  await form.getByLabel("First admin's e-mail").fill(tenantAdmin);
  await form.getByLabel("First admin's password").fill(PASSWORD);
  await form.getByRole("button", { name: "Create company" }).click();
  // The name is shown as text, never as markup.
  const row = page.locator("#tenants tr", { hasText: slug });
  await expect(row).toBeVisible();
  await expect(row).toContainText(tenantName);
  await expect(page.locator("#tenants b")).toHaveCount(0);
  await signOut(page);

  await signIn(page, js, tenantAdmin, PASSWORD);
  await expect(page.locator(".tenant-name")).toHaveText(tenantName);
  await expect(nav.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await nav.getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { name: "API keys", exact: true })).toBeVisible();
  await expect(page.getByText("No API keys yet")).toBeVisible();
  await settled(page, js);

  const keyForm = page.locator("#create-key");
  await keyForm.getByLabel("Name").fill("billing-worker");
  await keyForm.getByLabel(/^write/).check();
  // The form posts and is redirected back (302); with JavaScript the islands router fetches
  // that and patches the page in place, without a reload.
  await markPage(page, js);
  const created = page.waitForResponse((r) => r.url().endsWith("/api/ui/api_keys/create"));
  await keyForm.getByRole("button", { name: "Create key" }).click();
  expect((await created).status()).toBe(302);
  const secret = page.locator("#new-key-secret");
  await expect(secret).toHaveText(/^flt_[A-Za-z0-9]{40}$/);
  await expect(page.getByRole("button", { name: "Copy" })).toBeVisible();
  const keyRow = page.locator("#api-keys tr", { hasText: "billing-worker" });
  await expect(keyRow).toContainText("active");
  await expectNotReloaded(page, js);
  await expect(keyRow).toContainText("write");

  // The key authenticates an agent call.
  const key = (await secret.textContent())!.trim();
  const who = await page.request.post("/api/v1/whoami", { headers: { Authorization: `Bearer ${key}` }, data: {} });
  expect(who.status()).toBe(200);
  expect((await who.json()).tenant_slug).toBe(slug);

  await keyRow.getByRole("button", { name: "Revoke billing-worker" }).click();
  await expect(keyRow).toContainText("revoked");
  await expect(keyRow.getByRole("button")).toHaveCount(0);
  const after = await page.request.post("/api/v1/whoami", { headers: { Authorization: `Bearer ${key}` }, data: {} });
  expect(after.status()).toBe(401);

  // Reloading never shows the secret again.
  await page.reload();
  await expect(page.locator("#new-key-secret")).toHaveCount(0);
  await signOut(page);
});

test("sign-in shows one message for a wrong password", async ({ page, javaScriptEnabled }) => {
  await page.goto("/login");
  await settled(page, javaScriptEnabled);
  await page.getByLabel("E-mail").fill(ADMIN_EMAIL);
  await page.getByLabel("Password").fill("definitely wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("Wrong e-mail or password.");
  await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
});

test("unknown pages render a real 404", async ({ page }) => {
  const res = await page.goto("/this/does/not/exist");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found", exact: true })).toBeVisible();
});
