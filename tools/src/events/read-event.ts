import { cloudEventSchema, type CloudEvent } from '@subscriptions/contracts';

export type ReadEvent = { ok: true; event: CloudEvent } | { ok: false; reason: string };

/** Longest part of a refused body quoted back, so one bad message cannot flood the terminal. */
const QUOTED_BODY_CHARS = 200;

/** Reads a message body as a CloudEvent of the events exchange, or says why it is not one. */
export function readEvent(content: Buffer): ReadEvent {
  const text = content.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: `body is not JSON: ${quote(text)}` };
  }
  const result = cloudEventSchema.safeParse(json);
  if (result.success) return { ok: true, event: result.data };
  const issues = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`,
  );
  return { ok: false, reason: `${issues.join('; ')}: ${quote(text)}` };
}

/** One line per event: when, what, which subscription, its status and version after the change. */
export function describeEvent(event: CloudEvent, requestId: string | undefined): string {
  const { subscription, version } = event.data;
  return [
    event.time,
    // The longest type is 22 characters: the columns after it line up.
    event.type.padEnd(22),
    `subscription=${event.subject}`,
    `status=${subscription.status}`,
    `version=${version}`,
    `event=${event.id}`,
    `request=${requestId ?? '-'}`,
  ].join(' ');
}

function quote(text: string): string {
  const flat = JSON.stringify(text.slice(0, QUOTED_BODY_CHARS));
  return text.length > QUOTED_BODY_CHARS ? `${flat}...` : flat;
}
