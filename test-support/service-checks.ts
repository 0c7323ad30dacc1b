import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describeUnreachable, hostAndPort } from '@subscriptions/platform';
import amqp from 'amqplib';
import mysql from 'mysql2/promise';
import { amqpBaseUrl } from './broker';
import { canInstallDebianPackages, installDebianPackages } from './debian-packages';
import { mysqlServer } from './database';
import { managementApiFor } from './rabbitmq-management';

const run = promisify(execFile);

/** How long each check may take: a missing service is named in seconds, not at a test's timeout. */
const CHECK_TIMEOUT_MS = 3_000;

/** What a missing piece is and how to get it; `undefined` when it is there. */
export type CheckResult = string | undefined;

function reason(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : String(message ?? error);
}

export async function checkMysql(): Promise<CheckResult> {
  try {
    const connection = await mysql.createConnection({
      ...mysqlServer,
      connectTimeout: CHECK_TIMEOUT_MS,
    });
    await connection.end();
    return undefined;
  } catch (error) {
    return describeUnreachable({
      service: 'MySQL/MariaDB',
      address: `${mysqlServer.host}:${mysqlServer.port}`,
      variables: ['MYSQL_HOST', 'MYSQL_PORT'],
      credentials: ['MYSQL_USER', 'MYSQL_PASSWORD'],
      error,
    });
  }
}

export async function checkRabbitmq(): Promise<CheckResult> {
  try {
    const connection = await amqp.connect(amqpBaseUrl, { timeout: CHECK_TIMEOUT_MS });
    await connection.close();
    return undefined;
  } catch (error) {
    return describeUnreachable({
      service: 'RabbitMQ',
      address: hostAndPort(amqpBaseUrl),
      variables: ['AMQP_URL'],
      credentials: ['the user and password of AMQP_URL'],
      error,
    });
  }
}

/** How long a freshly enabled management plugin gets to answer (2-3 s seen on these machines). */
const MANAGEMENT_START_MS = 30_000;

/** The broker runs on this machine, where its own plugin command can reach it. */
function brokerIsLocal(): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(amqpBaseUrl).hostname);
}

/**
 * The tests make their virtual hosts over the management API. Where the broker runs on this
 * machine with the plugin off (a fresh RabbitMQ install) and this user can switch it on, it is
 * enabled here, online, and awaited; anything else is left to `checkRabbitmqManagement` to name.
 */
export async function provideRabbitmqManagement(log: (line: string) => void): Promise<CheckResult> {
  const first = await checkRabbitmqManagement();
  const pluginsCommand = '/usr/sbin/rabbitmq-plugins';
  if (
    first === undefined ||
    !first.includes('ECONNREFUSED') ||
    process.env['RABBITMQ_MANAGEMENT_URL'] ||
    !brokerIsLocal() ||
    process.getuid?.() !== 0 ||
    !(await isExecutable(pluginsCommand))
  ) {
    return first;
  }
  log("test setup: RabbitMQ's management API is off; enabling its plugin (once, a few seconds)");
  try {
    await run(pluginsCommand, ['-q', 'enable', 'rabbitmq_management'], { timeout: 60_000 });
  } catch (error) {
    return `${first}\n(enabling the plugin failed: ${reason(error)})`;
  }
  const deadline = Date.now() + MANAGEMENT_START_MS;
  for (;;) {
    const result = await checkRabbitmqManagement();
    if (result === undefined || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The tests make their virtual hosts here, so it must answer and grant the administrator tag. */
export async function checkRabbitmqManagement(): Promise<CheckResult> {
  const api = managementApiFor(amqpBaseUrl, process.env['RABBITMQ_MANAGEMENT_URL']);
  const fix =
    '`rabbitmq-plugins enable rabbitmq_management` (scripts/ensure-services.sh does it); ' +
    'the compose broker has it';
  try {
    const response = await api.request('GET', '/whoami');
    if (response.status === 401) {
      return `the RabbitMQ management API at ${api.baseUrl} rejected the credentials: check the user and password of AMQP_URL (or RABBITMQ_MANAGEMENT_URL).`;
    }
    if (!response.ok) {
      return `the RabbitMQ management API at ${api.baseUrl} answered ${response.status}: ${fix}.`;
    }
    const { tags } = (await response.json()) as { tags?: unknown };
    const tagList = Array.isArray(tags) ? tags : typeof tags === 'string' ? tags.split(',') : [];
    if (!tagList.includes('administrator')) {
      return `the RabbitMQ management API at ${api.baseUrl}: the AMQP_URL user is not an administrator, so it cannot create virtual hosts`;
    }
    return undefined;
  } catch (error) {
    return describeUnreachable({
      service: 'the RabbitMQ management API',
      address: api.baseUrl,
      variables: ['RABBITMQ_MANAGEMENT_URL'],
      remedy: `Enable it: ${fix}.`,
      error,
    });
  }
}

/** The browser the docs-page test drives: `CHROMIUM_PATH`, else Debian's package. */
export const chromiumPath = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Installs Debian's Chromium when it is missing and this user can (root with apt-get), as on the
 * machines CI runs on; elsewhere names how to get it.
 */
export async function provideChromium(log: (line: string) => void): Promise<CheckResult> {
  if (await isExecutable(chromiumPath)) return undefined;
  const fix =
    'install it (`apt-get install chromium`) or set CHROMIUM_PATH to a Chromium or Chrome binary';
  const canInstall = !process.env['CHROMIUM_PATH'] && (await canInstallDebianPackages());
  if (!canInstall) return `Chromium, for the docs-page test, not found at ${chromiumPath}: ${fix}`;
  log(
    `test setup: Chromium is missing; installing Debian's chromium package (once, under a minute)`,
  );
  try {
    await installDebianPackages(['chromium']);
  } catch (error) {
    return `Chromium could not be installed (${reason(error)}): ${fix}`;
  }
  return (await isExecutable(chromiumPath))
    ? undefined
    : `Chromium not found at ${chromiumPath} after install: ${fix}`;
}

/** Runs the checks side by side and fails with one line per missing piece. */
export async function requireServices(checks: Promise<CheckResult>[]): Promise<void> {
  const missing = (await Promise.all(checks)).filter((line) => line !== undefined);
  if (missing.length === 0) return;
  const error = new Error(
    [
      'The tests need these, and could not find them:',
      ...missing.map((lines) => `  - ${lines.replace(/\n\s*/g, '\n    ')}`),
    ].join('\n'),
  );
  // The lines are the whole story; a stack into this file would only bury them.
  error.stack = error.message;
  throw error;
}
