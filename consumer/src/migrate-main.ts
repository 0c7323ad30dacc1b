import dotenv from 'dotenv';
import { describeUnreachable, isCredentialsRejected, isUnreachable } from '@subscriptions/platform';
import { databaseAddress, migrate } from '@subscriptions/store';
import { ConfigError, loadConfig } from './config';

async function main(): Promise<number> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  let applied: string[];
  try {
    applied = await migrate(databaseAddress(config));
  } catch (error) {
    if (!isUnreachable(error) && !isCredentialsRejected(error)) throw error;
    // The server is missing or refuses us: say where we looked and how to fix it, not a stack.
    const hint = describeUnreachable({
      service: 'MySQL',
      address: `${config.MYSQL_HOST}:${config.MYSQL_PORT}`,
      variables: ['MYSQL_HOST', 'MYSQL_PORT'],
      credentials: ['MYSQL_USER', 'MYSQL_PASSWORD'],
      error,
    });
    console.error(`db:migrate: ${hint}`);
    return 1;
  }
  console.log(
    applied.length > 0
      ? `${config.MYSQL_DATABASE}: applied ${applied.join(', ')}`
      : `${config.MYSQL_DATABASE}: schema up to date`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`db:migrate: ${problem}`);
    } else {
      console.error('db:migrate: failed:', error instanceof Error ? error.message : error);
    }
    process.exit(1);
  },
);
