import {
  checkMysql,
  checkRabbitmq,
  provideRabbitmqManagement,
  provideChromium,
  requireServices,
} from './service-checks';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Jest global setup of the end-to-end tests: the services, and Chromium for the docs page. */
export default async function setup(): Promise<void> {
  await requireServices([
    checkMysql(),
    checkRabbitmq(),
    provideRabbitmqManagement(log),
    provideChromium(log),
  ]);
}
