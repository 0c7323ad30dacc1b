import { access, constants } from 'node:fs/promises';
import {
  type CheckResult,
  checkRabbitmq,
  provideRabbitmqManagement,
  requireServices,
} from '../service-checks';
import { provideHaproxy } from './galera-cluster';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function checkGalera(): Promise<CheckResult> {
  const provider = '/usr/lib/galera/libgalera_smm.so';
  try {
    await access(provider, constants.R_OK);
    await access('/usr/sbin/mariadbd', constants.X_OK);
    return undefined;
  } catch {
    return `MariaDB with Galera not installed: ${provider} or /usr/sbin/mariadbd is missing (apt-get install mariadb-server galera-4 rsync)`;
  }
}

/**
 * Jest global setup of the Galera scenarios: the MariaDB and Galera binaries the private cluster
 * runs from, HAProxy (installed from Debian's package where it is missing and this user can),
 * and the machine's RabbitMQ for the commands and events.
 */
export default async function setup(): Promise<void> {
  await requireServices([
    checkGalera(),
    provideHaproxy(log),
    checkRabbitmq(),
    provideRabbitmqManagement(log),
  ]);
}
