import { describe, expect, it } from '@jest/globals';
import amqp from 'amqplib';
import mysql from 'mysql2/promise';
import { amqpBaseUrl } from '../../../test-support/broker';
import { mysqlServer } from '../../../test-support/database';
import { isCredentialsRejected, isUnreachable } from '../../src';
import { closedPort } from '../../../test-support/ports';

/** The error `attempt` rejects with; fails the test when it succeeds. */
async function failureOf(
  attempt: () => Promise<{ close?: () => Promise<void> }>,
): Promise<unknown> {
  const outcome = await attempt().then(
    async (connection) => {
      await connection.close?.();
      return undefined;
    },
    (error: unknown) => ({ error }),
  );
  if (outcome === undefined) throw new Error('expected the attempt to fail');
  return outcome.error;
}

describe('the errors the real clients throw', () => {
  it('a closed port is unreachable to mysql2, amqplib and fetch alike', async () => {
    const port = await closedPort();
    const broker = new URL(amqpBaseUrl);
    broker.port = String(port);
    const errors = [
      await failureOf(() =>
        mysql
          .createConnection({ ...mysqlServer, port })
          .then((connection) => ({ close: () => connection.end() })),
      ),
      await failureOf(() => amqp.connect(broker.toString())),
      await failureOf(() => fetch(`http://127.0.0.1:${port}/readyz`).then(() => ({}))),
    ];
    for (const error of errors) {
      expect(isUnreachable(error)).toBe(true);
      expect(isCredentialsRejected(error)).toBe(false);
    }
  });

  it('a wrong password reaches the server and is rejected, not unreachable', async () => {
    const broker = new URL(amqpBaseUrl);
    broker.password = 'not-the-password';
    const errors = [
      await failureOf(() =>
        mysql
          .createConnection({ ...mysqlServer, password: 'not-the-password' })
          .then((connection) => ({ close: () => connection.end() })),
      ),
      await failureOf(() => amqp.connect(broker.toString())),
    ];
    for (const error of errors) {
      expect(isCredentialsRejected(error)).toBe(true);
      expect(isUnreachable(error)).toBe(false);
    }
  });
});
