import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { type CheckResult, checkMysql, requireServices } from '../service-checks';
import { RABBITMQ_BIN } from './rabbitmq-cluster';

/** The cluster runs from the RabbitMQ server installed on this machine; it needs no running broker. */
async function checkRabbitmqServer(): Promise<CheckResult> {
  const server = path.join(RABBITMQ_BIN, 'rabbitmq-server');
  try {
    await access(server, constants.X_OK);
    return undefined;
  } catch {
    return `RabbitMQ server not installed: ${server} is missing (apt-get install rabbitmq-server)`;
  }
}

/** Jest global setup of the cluster scenarios: MySQL/MariaDB and the RabbitMQ binaries. */
export default async function setup(): Promise<void> {
  await requireServices([checkMysql(), checkRabbitmqServer()]);
}
