import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';
import { createTestVhost, type TestVhost } from '../test-support/broker';
import { createTestDatabase, type TestDatabase } from '../test-support/database';
import { chromiumPath } from '../test-support/service-checks';
import { releaseAll } from '../test-support/cleanup';
import { startProducer, type Producer } from '../test-support/processes/services';

describe('the API docs page in a real browser', () => {
  let vhost: TestVhost;
  let database: TestDatabase;
  let producer: Producer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    [vhost, database] = await Promise.all([createTestVhost(), createTestDatabase()]);
    producer = await startProducer({ amqpUrl: vhost.url, database: database.name });
    browser = await chromium.launch({
      // The e2e global setup has provided it, or stopped the run naming what is missing.
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await releaseAll([producer?.stop(), vhost?.delete(), database?.drop()]);
  });

  it('renders every endpoint of the OpenAPI document, with nothing fetched from elsewhere', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const foreign: string[] = [];
    const failed: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(producer!.baseUrl)) foreign.push(req.url());
    });
    page.on('requestfailed', (req) => failed.push(req.url()));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    // Every operation the served document declares must be on the page.
    const documented = (await (await fetch(`${producer!.baseUrl}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const expected = Object.entries(documented.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(expected).toEqual(
      expect.arrayContaining(['POST /api/v1/subscriptions', 'GET /api/v1/commands/{id}']),
    );

    await page.goto(`${producer!.baseUrl}/api/docs`);
    const operations = page.locator('.opblock-summary');
    await operations.nth(expected.length - 1).waitFor({ timeout: 15_000 });

    const listed = await page.locator('.opblock-summary-path').allInnerTexts();
    const methods = await page.locator('.opblock-summary-method').allInnerTexts();
    const endpoints = listed.map((path, i) => `${methods[i]} ${path.replace(/\u200b/g, '')}`);
    expect(endpoints.sort()).toEqual(expected.sort());
    expect(foreign).toEqual([]);
    expect(failed).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
