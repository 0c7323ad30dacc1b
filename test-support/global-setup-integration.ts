import {
  checkMysql,
  checkRabbitmq,
  provideRabbitmqManagement,
  requireServices,
} from './service-checks';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Jest global setup of the integration tests: the real MySQL and RabbitMQ they talk to. */
export default async function setup(): Promise<void> {
  await requireServices([checkMysql(), checkRabbitmq(), provideRabbitmqManagement(log)]);
}
