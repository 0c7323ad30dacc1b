import {
  checkMysql,
  checkRabbitmq,
  checkRabbitmqManagement,
  requireServices,
} from './service-checks';

/** Jest global setup of the integration tests: the real MySQL and RabbitMQ they talk to. */
export default async function setup(): Promise<void> {
  await requireServices([checkMysql(), checkRabbitmq(), checkRabbitmqManagement()]);
}
