import { parseArgs } from 'node:util';
import { readTokenSettings } from './settings';
import { parseTtl, signToken } from './tokens';

const USAGE = 'usage: npm run token -- <user_id> [--admin] [--ttl 1h]';

/** Prints a bearer token signed with the configured AUTH_JWT_SECRET; resolves with the exit code. */
export async function runTokenCommand(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { admin: { type: 'boolean', default: false }, ttl: { type: 'string', default: '1h' } },
  });
  const userId = Number(positionals[0]);
  const ttlSeconds = parseTtl(values.ttl);
  if (positionals.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(positionals[0] ?? '') || !ttlSeconds) {
    console.error(USAGE);
    return 2;
  }
  const settings = readTokenSettings(env);
  if (!settings.AUTH_JWT_SECRET) {
    console.error('token: AUTH_JWT_SECRET is not set, so there is nothing to sign with');
    return 1;
  }
  console.log(
    await signToken({
      secret: settings.AUTH_JWT_SECRET,
      userId,
      admin: values.admin,
      ttlSeconds,
      issuer: settings.AUTH_ISSUER,
      audience: settings.AUTH_AUDIENCE,
    }),
  );
  return 0;
}
