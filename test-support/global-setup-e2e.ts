import {
  checkMysql,
  checkRabbitmq,
  checkRabbitmqManagement,
  provideChromium,
  requireServices,
} from './service-checks';

/** Jest global setup of the end-to-end tests: the services, and Chromium for the docs page. */
export default async function setup(): Promise<void> {
  await requireServices([
    checkMysql(),
    checkRabbitmq(),
    checkRabbitmqManagement(),
    provideChromium((line) => process.stderr.write(`${line}\n`)),
  ]);
}
