import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (the tests use the real browser, not a bundled one). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium that does nothing on its own (no background fetches, no first-run pages). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * A page in a new context whose console errors and uncaught exceptions are collected in `errors`.
 * The console asks for its session before the login (a 401): expected; `expected` says which
 * failed requests a test expects besides.
 */
export async function watchedPage(
  browser: Browser,
  errors: string[],
  options: BrowserContextOptions = {},
  expected = /status of 401/,
): Promise<Page> {
  const page = await (await browser.newContext(options)).newPage();
  page.on('console', (m) => m.type() === 'error' && !expected.test(m.text()) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return page;
}

/** Opens the console at `address` (host:port, plain HTTP), logs in, and waits for the client list. */
export async function logInToConsole(
  page: Page,
  address: string,
  operator: string,
  password: string,
  totp?: string,
): Promise<void> {
  await page.goto(`http://${address}/console/`);
  await page.fill('input[name=operator]', operator);
  await page.fill('input[name=password]', password);
  if (totp) await page.fill('input[name=totp]', totp);
  await page.click('form.login button[type=submit]');
  await page.locator('#clients').waitFor();
}
