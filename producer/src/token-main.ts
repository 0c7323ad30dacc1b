import { parseArgs } from 'node:util';
import dotenv from 'dotenv';
import { ConfigError, loadConfig } from './config';
import { parseTtl, signToken } from './tokens';

const USAGE = 'usage: npm run token -- <user_id> [--admin] [--ttl 1h]';

/** Prints a bearer token signed with the configured AUTH_JWT_SECRET. */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { admin: { type: 'boolean', default: false }, ttl: { type: 'string', default: '1h' } },
  });
  const userId = Number(positionals[0]);
  const ttlSeconds = parseTtl(values.ttl);
  if (positionals.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(positionals[0] ?? '') || !ttlSeconds) {
    console.error(USAGE);
    process.exit(2);
  }
  const config = loadConfig(process.env);
  if (!config.AUTH_JWT_SECRET) {
    console.error('token: AUTH_JWT_SECRET is not set, so there is nothing to sign with');
    process.exit(1);
  }
  console.log(
    await signToken({
      secret: config.AUTH_JWT_SECRET,
      userId,
      admin: values.admin,
      ttlSeconds,
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
    }),
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`token: ${problem}`);
  } else {
    console.error(`token: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
});
