import dotenv from 'dotenv';
import { ConfigError } from '@subscriptions/platform';
import { runEventsCommand } from './events/events-command';
import { runTokenCommand } from './token-command';
import { runWalkthroughCommand } from './walkthrough/walkthrough-command';

interface CommandContext {
  untilStopped(): Promise<NodeJS.Signals>;
}

type Command = (
  args: string[],
  env: Record<string, string | undefined>,
  context: CommandContext,
) => Promise<number>;

/** Named as the npm scripts are, so `npm run token` and `docker compose run tools token` agree. */
const COMMANDS: Record<string, Command> = {
  token: runTokenCommand,
  lifecycle: runWalkthroughCommand,
  events: runEventsCommand,
};

const USAGE = `usage: tools <command> [arguments]
  token <user_id> [--admin] [--ttl 1h]   print a bearer token signed with AUTH_JWT_SECRET
  lifecycle                              walk one subscription through the API at BASE_URL
                                         (token: BEARER_TOKEN, else signed with AUTH_JWT_SECRET)
  events [--json] [pattern ...]          print the events on SUBSCRIPTIONS.EVENTS at AMQP_URL`;

let stopped: Promise<NodeJS.Signals> | undefined;

/**
 * Resolves with the first SIGINT or SIGTERM. Only a command that runs until stopped asks for it:
 * from then on those signals are its to act on, while the others still end at once on Ctrl-C.
 */
function untilStopped(): Promise<NodeJS.Signals> {
  stopped ??= new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => resolve(signal));
    }
  });
  return stopped;
}

function describeFailure(error: unknown): string[] {
  if (error instanceof ConfigError) return error.problems;
  return [error instanceof Error ? error.message : String(error)];
}

async function main(): Promise<number> {
  const [name = '', ...args] = process.argv.slice(2);
  if (name === '--help' || name === '-h') {
    console.log(USAGE);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  dotenv.config({ quiet: true });
  try {
    return await command(args, process.env, { untilStopped });
  } catch (error) {
    for (const line of describeFailure(error)) console.error(`${name}: ${line}`);
    return 1;
  }
}

// Exits at once: fetch keeps idle connections open for a while after the last answer.
void main().then((code) => process.exit(code));
