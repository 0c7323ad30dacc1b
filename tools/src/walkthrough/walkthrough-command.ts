import { describeUnreachable, isUnreachable } from '@subscriptions/platform';
import { readWalkthroughSettings } from '../settings';
import { signToken } from '../tokens';
import { runWalkthrough } from './run-walkthrough';

/**
 * `npm run lifecycle`: walks one subscription through the API at BASE_URL, with the token in
 * BEARER_TOKEN, else a short-lived admin token of its own when AUTH_JWT_SECRET is set. Resolves
 * with the exit code.
 */
export async function runWalkthroughCommand(
  _args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const settings = readWalkthroughSettings(env);
  const { BASE_URL, LIFECYCLE_USER_ID, BEARER_TOKEN, AUTH_JWT_SECRET } = settings;
  const token =
    BEARER_TOKEN ??
    (AUTH_JWT_SECRET
      ? await signToken({
          secret: AUTH_JWT_SECRET,
          userId: LIFECYCLE_USER_ID,
          admin: true,
          ttlSeconds: 300,
          issuer: settings.AUTH_ISSUER,
          audience: settings.AUTH_AUDIENCE,
        })
      : undefined);
  const how = BEARER_TOKEN
    ? ' (with the token in BEARER_TOKEN)'
    : token
      ? ' (with an admin token signed with AUTH_JWT_SECRET)'
      : '';
  console.log(`Lifecycle against ${BASE_URL}${how}`);
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
