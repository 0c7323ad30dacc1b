import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { COMMANDS, type CommandName } from '@subscriptions/contracts';

/** What a command id says of its command, readable without the database. */
export interface CommandTicket {
  type: CommandName;
  /** The principal's subject that sent it: only they (or an admin) may look it up. */
  owner: string;
  /** When the broker accepted it, epoch milliseconds. */
  acceptedAt: number;
  /**
   * A synchronous command's deadline, epoch milliseconds: past it the command is never applied.
   * An asynchronous command has none.
   */
  deadline?: number | undefined;
}

export interface CommandIds {
  /** A new, unguessable id for a command of `ticket`. */
  mint(ticket: CommandTicket): string;
  /** The ticket of an id this service minted, or `null` for any other text. */
  read(id: string): CommandTicket | null;
}

/** The characters a command id is made of (base64url and dots), and its longest length. */
export const COMMAND_ID_PATTERN = /^[A-Za-z0-9_.-]{1,255}$/;

/**
 * The key command ids are signed with when there is no secret (auth off, or tokens from an
 * identity provider only). Outcomes are found by the whole id, so an id forged with it reads no
 * one's outcome: at most it reads as a pending command that never was.
 */
export const UNSIGNED_COMMAND_IDS = 'subscriptions: auth is off';

const MAC_BYTES = 16;

/**
 * 122 random bits: a version 4 UUID's. Node fills a cache of random bytes for many UUIDs at a
 * time, where a `randomBytes` call per id costs more than the rest of minting.
 */
const nonce = () => Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');

/**
 * Command ids are self-describing and signed: `<type>.<accepted at, base 36>.<deadline, base 36,
 * or empty>.<owner, base64url>.<nonce>.<mac>`. The producer hands one out the moment the broker
 * confirms a command, when the database may be away, so a pending command's type, owner and
 * acceptance time live in its id; the MAC (HMAC-SHA256, keyed from the service's secret) makes an id nobody minted read as
 * unknown rather than as pending. The id is the command's AMQP message id too.
 */
export function createCommandIds(secret: string): CommandIds {
  const key = createHmac('sha256', secret).update('subscriptions command id').digest();
  const sign = (payload: string) =>
    createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);

  return {
    mint({ type, owner, acceptedAt, deadline }) {
      const payload = [
        type,
        acceptedAt.toString(36),
        deadline === undefined ? '' : deadline.toString(36),
        Buffer.from(owner, 'utf8').toString('base64url'),
        nonce(),
      ].join('.');
      return `${payload}.${sign(payload).toString('base64url')}`;
    },

    read(id) {
      if (!COMMAND_ID_PATTERN.test(id)) return null;
      const parts = id.split('.');
      if (parts.length !== 6) return null;
      const [type, acceptedAt, deadline, owner, , mac] = parts as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const expected = sign(parts.slice(0, 5).join('.'));
      const given = Buffer.from(mac, 'base64url');
      // One spelling per id: base64url decoding ignores the spare bits of the last character.
      if (given.toString('base64url') !== mac) return null;
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      if (!Object.hasOwn(COMMANDS, type)) return null;
      return {
        type: type as CommandName,
        owner: Buffer.from(owner, 'base64url').toString('utf8'),
        acceptedAt: parseInt(acceptedAt, 36),
        deadline: deadline === '' ? undefined : parseInt(deadline, 36),
      };
    },
  };
}
