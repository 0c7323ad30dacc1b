import dotenv from 'dotenv';
import { ConfigError, loadConfig } from './config';
import { migrate } from './db/migrate';

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const applied = await migrate({
    host: config.MYSQL_HOST,
    port: config.MYSQL_PORT,
    user: config.MYSQL_USER,
    password: config.MYSQL_PASSWORD,
    database: config.MYSQL_DATABASE,
  });
  console.log(
    applied.length > 0
      ? `${config.MYSQL_DATABASE}: applied ${applied.join(', ')}`
      : `${config.MYSQL_DATABASE}: schema up to date`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`db:migrate: ${problem}`);
  } else {
    console.error('db:migrate: failed:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
