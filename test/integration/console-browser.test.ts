import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateTotpCode } from '../../src/auth/totp.js';
import type { Role } from '../../src/auth/users.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/repositories.js';
import {
  chromiumAvailable,
  expectAccessible,
  launchBrowser,
  saveScreenshot,
  type TestBrowser,
} from '../support/browser.js';
import { silentLogger } from '../support/databases.js';
import { configureTargetAccess, injectClient } from '../support/people.js';
import { startVaultServer, type VaultServer } from '../support/vault-server.js';

/**
 * The web console in Chromium, as its users work with it: an operator requests access, an approver
 * approves it, the operator reveals, checks out and checks in, and an administrator finds those
 * events in the audit view. Every page is checked with axe-core, and any CSP violation fails the
 * suite. With UPDATE_DOCS=1 the pages are saved as the screenshots of docs/console.md.
 */

const SECRET = 'payroll-root-Vb62-browser';

/** The page globals the tests use; the project compiles without the DOM library. */
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number; clientWidth: number };
    createElement(tag: 'style'): { textContent: string };
    head: { append(node: unknown): void };
  };
}

// Outside CI a machine without Chromium skips the suite; CI installs it, so there it must run.
const runnable = chromiumAvailable() || process.env['CI'] !== undefined;

describe.skipIf(!runnable)('console in a browser', () => {
  let folder: string;
  let store: Store;
  let server: VaultServer;
  let browser: TestBrowser;
  let baseUrl: string;
  let targetId: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'strongroom-console-browser-'));
    store = await openStore('sqlite:console.db', { baseDir: folder, logger: silentLogger() });
    // The real time, so that cookie expiry and the grant countdown make sense to the browser.
    server = await startVaultServer(store, new Date());
    const call = injectClient(server.app);

    const target = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'payroll-db', address: '10.0.4.12', description: 'Payroll database' },
    });
    targetId = target.json<{ id: string }>().id;
    for (const username of ['postgres', 'backup']) {
      const account = await server.as('administrator', {
        method: 'POST',
        url: `/api/v1/targets/${targetId}/accounts`,
        payload: { username, secret: `${SECRET}-${username}` },
      });
      expect(account.statusCode).toBe(201);
    }
    const idOf = async (name: string) => (await store.users.findUserByName(name))!.id;
    await configureTargetAccess(
      call,
      {
        admin: server.tokens.administrator,
        operator: server.tokens.operator,
        operatorId: await idOf('operator1'),
        approver: server.tokens.approver,
        approverId: await idOf('approver1'),
      },
      targetId,
    );

    await server.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    await rm(folder, { recursive: true, force: true });
  });

  async function logIn(context: BrowserContext, role: Role): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/login');

    const credentials = server.nextLogin(role);
    await page.getByLabel('User name').fill(credentials.username);
    await page.getByLabel('Password').fill(credentials.password);
    await page.getByLabel('Authenticator code').fill(credentials.totpCode);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/console`);
    return page;
  }

  async function visit(page: Page, url: string, name: string): Promise<void> {
    await page.goto(`${baseUrl}${url}`);
    await expectAccessible(page, name);
    await saveScreenshot(page, name);
  }

  it('runs the access workflow end to end', async () => {
    const loginContext = await browser.newContext();
    const loginPage = await loginContext.newPage();
    await loginPage.goto(`${baseUrl}/console/login`);
    await expectAccessible(loginPage, 'login');
    await saveScreenshot(loginPage, 'login');

    const operatorContext = await browser.newContext();
    const operator = await logIn(operatorContext, 'operator');
    await visit(operator, `/console/targets/${targetId}`, 'target');
    const postgresCard = operator.locator('section', {
      has: operator.getByRole('heading', { name: 'postgres' }),
    });
    await postgresCard.getByLabel('Reason for access').fill('rotate the payroll replication slot');
    await postgresCard.getByLabel('Access period in minutes').fill('120');
    await postgresCard.getByRole('button', { name: 'Request access' }).click();
    await operator.waitForURL(/\/console\/requests\?notice=requested$/);
    await expect.poll(() => operator.getByText('pending').count()).toBeGreaterThan(0);

    const approverContext = await browser.newContext();
    const approver = await logIn(approverContext, 'approver');
    expect(await approver.getByText('rotate the payroll replication slot').count()).toBe(1);
    await expectAccessible(approver, 'dashboard-approver');
    await saveScreenshot(approver, 'dashboard-approver');
    await visit(approver, '/console/requests', 'requests');
    await approver.getByLabel('Comment for approval (optional)').fill('ok for the change window');
    await approver.getByRole('button', { name: 'Approve' }).click();
    await approver.waitForURL(/notice=approved$/);
    expect(await approver.getByText('approved', { exact: true }).count()).toBeGreaterThan(0);

    await visit(operator, '/console', 'dashboard');
    expect(await operator.getByRole('cell', { name: 'postgres' }).count()).toBe(1);

    await operator.clock.install();
    await operator.goto(`${baseUrl}/console/targets/${targetId}`);
    await postgresCard.getByLabel('Reason for revealing').fill('check the replication password');
    await postgresCard.getByRole('button', { name: 'Reveal' }).click();
    const secretBox = operator.getByLabel('Secret');
    await expect.poll(() => secretBox.inputValue()).toBe(`${SECRET}-postgres`);
    await expect
      .poll(() => operator.locator('#grant-countdown').textContent())
      .toMatch(/^Ends in \d+ min/);
    await expectAccessible(operator, 'secret');
    await saveScreenshot(operator, 'secret');
    await operator.clock.fastForward(31_000);
    await expect.poll(() => operator.getByLabel('Secret hidden').inputValue()).toBe('');
    expect(await operator.content()).not.toContain(SECRET);

    await operator.goto(`${baseUrl}/console/targets/${targetId}`);
    await postgresCard.getByLabel('Reason for checking out').fill('run the payroll migration');
    await postgresCard.getByRole('button', { name: 'Check out' }).click();
    await expect.poll(() => operator.getByLabel('Secret').inputValue()).toBe(`${SECRET}-postgres`);
    await operator.goto(`${baseUrl}/console/targets/${targetId}`);
    await postgresCard.getByRole('button', { name: 'Check in' }).click();
    await operator.waitForURL(/notice=checked-in$/);
    expect(await postgresCard.getByText('needs rotation').count()).toBe(1);

    const adminContext = await browser.newContext();
    const admin = await logIn(adminContext, 'administrator');
    await admin.goto(`${baseUrl}/console/audit?actor=operator1`);
    const actions = await admin.locator('table.events tbody tr td:nth-child(4)').allTextContents();
    expect(actions).toEqual(
      expect.arrayContaining([
        'access.request',
        'secret.reveal',
        'account.checkout',
        'account.checkin',
      ]),
    );
    await expectAccessible(admin, 'audit');
    await saveScreenshot(admin, 'audit');

    await admin.goto(`${baseUrl}/console/audit?action=access.approve`);
    const approvals = await admin
      .locator('table.events tbody tr td:nth-child(3)')
      .allTextContents();
    expect(approvals).toContain('approver1');

    await visit(admin, '/console/users', 'users');
    await visit(admin, '/console/groups', 'groups');
    await visit(admin, '/console/api-tokens', 'api-tokens');
    await visit(admin, '/console/keys', 'keys');
    await visit(admin, '/console/audit/chain', 'audit-chain');

    expect(browser.cspViolations).toEqual([]);
  });

  it('fits a narrow window', async () => {
    const context = await browser.newContext({ width: 400, height: 800 });
    const page = await logIn(context, 'operator');
    await visit(page, `/console/targets/${targetId}`, 'target-narrow');

    const overflow = await page.evaluate(() => {
      const root = (globalThis as unknown as PageGlobals).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    expect(browser.cspViolations).toEqual([]);
  });

  it('wraps long names and stacks users', async () => {
    const created = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { name: 'g'.repeat(200) },
    });
    expect(created.statusCode).toBe(201);
    const horizontalOverflow = (page: Page) =>
      page.evaluate(() => {
        const root = (globalThis as unknown as PageGlobals).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });

    const wide = await logIn(
      await browser.newContext({ width: 1280, height: 900 }),
      'administrator',
    );
    await visit(wide, '/console/groups', 'groups-long-name');
    expect(await horizontalOverflow(wide)).toBeLessThanOrEqual(0);

    const narrow = await logIn(
      await browser.newContext({ width: 400, height: 800 }),
      'administrator',
    );
    await visit(narrow, '/console/users', 'users-narrow');
    const changeButton = await narrow
      .getByRole('button', { name: 'Change role' })
      .first()
      .boundingBox();
    expect(changeButton).not.toBeNull();
    expect(changeButton!.x + changeButton!.width).toBeLessThanOrEqual(400);
    expect(await horizontalOverflow(narrow)).toBeLessThanOrEqual(0);
    expect(browser.cspViolations).toEqual([]);
  });

  it('enrols TOTP of a new user', async () => {
    const created = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/users',
      payload: { username: 'nora', password: 'nora passphrase 2026', role: 'approver' },
    });
    expect(created.statusCode).toBe(201);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console/login`);
    await page.getByLabel('User name').fill('nora');
    await page.getByLabel('Password').fill('nora passphrase 2026');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/console/enrol`);
    await page.getByRole('button', { name: 'Show a new secret' }).click();
    const secret = await page.getByLabel('Secret').inputValue();

    expect(secret).toMatch(/^[A-Z2-7]+$/);
    await expectAccessible(page, 'enrol');
    await saveScreenshot(page, 'enrol');

    await page.getByLabel('Code from the app').fill(generateTotpCode(secret, server.clock.now));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => page.getByText('Your authenticator app is enrolled').count()).toBe(1);
    expect(browser.cspViolations).toEqual([]);
  });

  it('reports a CSP violation to the test', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console/login`);
    const before = browser.cspViolations.length;

    // An inline style is what the policy blocks; the page of the product never has one.
    await page.evaluate(() => {
      const { document } = globalThis as unknown as PageGlobals;
      const style = document.createElement('style');
      style.textContent = 'body { color: red; }';
      document.head.append(style);
    });
    await expect.poll(() => browser.cspViolations.length).toBeGreaterThan(before);
    browser.cspViolations.splice(before);
  });
});
