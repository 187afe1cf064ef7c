import { expect, type APIRequestContext, type Page } from "@playwright/test";

// The super-admin is created by the server's first start (see `cargo xtask test`).
export const ADMIN_EMAIL = process.env.FAULTLINE_ADMIN_EMAIL ?? "admin@faultline.local";
export const ADMIN_PASSWORD = process.env.FAULTLINE_ADMIN_PASSWORD ?? "e2e-admin-password";
export const PASSWORD = "tenant-admin-password";
export const JSON_ACCEPT = { Accept: "application/json" };

/** Waits until the WASM has hydrated the page (no-op without JavaScript). */
export async function settled(page: Page, js: boolean) {
  if (js) {
    await page.waitForLoadState("networkidle");
  }
}

/** Leaves a marker on the page that a full reload would wipe out (with JavaScript only). */
export async function markPage(page: Page, js: boolean) {
  if (js) {
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = "still here"));
  }
}

/** With JavaScript, the page was patched in place since `markPage`, not reloaded. */
export async function expectNotReloaded(page: Page, js: boolean) {
  if (js) {
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe("still here");
  }
}

/**
 * A fresh company `slug` with an admin `admin@<slug>.test` (created by the super-admin) who is
 * left signed in on `request`'s cookies, and an ingest key.
 */
export async function company(request: APIRequestContext, slug: string) {
  const admin = `admin@${slug}.test`;
  let res = await request.post("/api/ui/login", { form: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }, headers: JSON_ACCEPT });
  expect(res.status()).toBe(200);
  res = await request.post("/api/ui/tenants/create", {
    form: { slug, name: `Company ${slug}`, admin_email: admin, admin_password: PASSWORD },
    headers: JSON_ACCEPT,
  });
  expect(res.status()).toBe(200);
  res = await request.post("/api/ui/login", { form: { email: admin, password: PASSWORD }, headers: JSON_ACCEPT });
  expect(res.status()).toBe(200);
  res = await request.post("/api/ui/api_keys/create", { form: { name: "agent", scope_ingest: "on" }, headers: JSON_ACCEPT });
  expect(res.status()).toBe(200);
  const key: string = (await res.json()).secret;
  return { admin, key };
}

/** Sends one error through the seed REST API; returns `{id, group_id, …}`. */
export async function send(request: APIRequestContext, key: string, body: object) {
  const res = await request.post("/api/errors/log", { headers: { Authorization: `Bearer ${key}` }, data: body });
  expect(res.status()).toBe(201);
  return res.json();
}
