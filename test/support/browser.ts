import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

/** Debian's Chromium, which CI installs. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Folder of the console screenshots that docs/console.md shows. */
const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../../docs/console');

/** A headless Chromium and the CSP violations its pages reported. */
export interface TestBrowser {
  /** Opens a context with its own cookies, as a separate user's browser would have. */
  newContext(viewport?: { width: number; height: number }): Promise<BrowserContext>;
  /** Every CSP violation seen so far, from the securitypolicyviolation event or the console. */
  cspViolations: string[];
  close(): Promise<void>;
}

/**
 * Launches Chromium headless without background traffic (no sync, component updates or QUIC), so
 * the only connections go to the test's server on 127.0.0.1. Playwright gives each launch a fresh
 * temporary profile folder and removes it on close.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const cspViolations: string[] = [];

  return {
    cspViolations,
    newContext: async (viewport = { width: 1280, height: 900 }) => {
      const context = await browser.newContext({ viewport });
      await watchCsp(context, cspViolations);
      return context;
    },
    close: () => browser.close(),
  };
}

/** The page globals that the CSP watch uses. */
interface CspWatchGlobals {
  document: {
    addEventListener(
      type: 'securitypolicyviolation',
      listener: (event: {
        violatedDirective: string;
        blockedURI: string;
        documentURI: string;
      }) => void,
    ): void;
  };
  reportCspViolation(text: string): void;
}

/**
 * Records CSP violations of every page of the context: an init script (which the page's CSP does
 * not govern) listens for securitypolicyviolation, and console messages about the policy count too.
 */
async function watchCsp(context: BrowserContext, violations: string[]): Promise<void> {
  await context.exposeBinding('reportCspViolation', (_source, text: string) => {
    violations.push(text);
  });
  await context.addInitScript(() => {
    // Runs in the page, where these globals exist; the project compiles without the DOM library.
    const page = globalThis as unknown as CspWatchGlobals;
    page.document.addEventListener('securitypolicyviolation', (event) => {
      page.reportCspViolation(
        `${event.violatedDirective} blocked ${event.blockedURI} on ${event.documentURI}`,
      );
    });
  });
  context.on('page', (page) => {
    page.on('console', (message) => {
      if (/Content[ -]Security[ -]Policy/i.test(message.text())) {
        violations.push(message.text());
      }
    });
  });
}

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * Runs axe-core on the page and fails on any serious or critical violation. axe is evaluated
 * through the DevTools protocol, which the page's CSP does not govern, so the product's policy
 * stays as strict as it is.
 */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } })
      .axe;
    return (await axe.run()).violations;
  });

  const severe = (violations as AxeViolation[])
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
  expect(severe, `accessibility of ${name}`).toEqual([]);
}

/** Saves a full-page screenshot to docs/console/NAME.png, only when UPDATE_DOCS=1 is set. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  if (process.env['UPDATE_DOCS'] !== '1') {
    return;
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Tells whether Chromium is installed; the browser tests are skipped without it outside CI. */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}
