import { describeUnreachable, isUnreachable } from '@subscriptions/platform';
import { readWalkthroughSettings } from '../settings';
import { signToken } from '../tokens';
import { runWalkthrough } from './run-walkthrough';

/**
 * `npm run lifecycle`: walks one subscription through the API at BASE_URL, with a short-lived
 * admin token of its own when AUTH_JWT_SECRET is set. Resolves with the exit code.
 */
export async function runWalkthroughCommand(
  _args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const { BASE_URL, LIFECYCLE_USER_ID, AUTH_JWT_SECRET, AUTH_ISSUER, AUTH_AUDIENCE } =
    readWalkthroughSettings(env);
  const token = AUTH_JWT_SECRET
    ? await signToken({
        secret: AUTH_JWT_SECRET,
        userId: LIFECYCLE_USER_ID,
        admin: true,
        ttlSeconds: 300,
        issuer: AUTH_ISSUER,
        audience: AUTH_AUDIENCE,
      })
    : undefined;
  console.log(`Lifecycle against ${BASE_URL}${token ? ' (with an admin token)' : ''}`);
  try {
    const passed = await runWalkthrough({
      baseUrl: BASE_URL,
      userId: LIFECYCLE_USER_ID,
      token,
      print: (line) => console.log(line),
    });
    return passed ? 0 : 1;
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    const hint = describeUnreachable({
      service: 'the producer',
      address: new URL(BASE_URL).origin,
      variables: ['BASE_URL'],
      remedy: 'Start the service first: `npm start`, or `docker compose up -d` (API on port 5000).',
      error,
    });
    console.error(`lifecycle: ${hint}`);
    return 1;
  }
}
