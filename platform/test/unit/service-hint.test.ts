import { runInNewContext } from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import {
  COMPOSE_SERVICES_REMEDY,
  describeUnreachable,
  hostAndPort,
  isCredentialsRejected,
  isUnreachable,
} from '../../src';

/** An error shaped like the ones Node's sockets and mysql2 throw: a message and a string code. */
function codedError(code: string, message = `connect ${code} 127.0.0.1:3306`): Error {
  return Object.assign(new Error(message), { code });
}

const mysqlTarget = {
  service: 'MySQL',
  address: '127.0.0.1:3306',
  variables: ['MYSQL_HOST', 'MYSQL_PORT'],
  credentials: ['MYSQL_USER', 'MYSQL_PASSWORD'],
};

describe('isUnreachable', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'])(
    'is true for a socket error %s',
    (code) => {
      expect(isUnreachable(codedError(code))).toBe(true);
    },
  );

  it('is true for fetch failed with a refused connection as its cause', () => {
    const error = new TypeError('fetch failed', { cause: codedError('ECONNREFUSED') });
    expect(isUnreachable(error)).toBe(true);
  });

  it('is true for fetch failed on a port fetch will not use', () => {
    expect(isUnreachable(new TypeError('fetch failed', { cause: new Error('bad port') }))).toBe(
      true,
    );
  });

  it('is true when every address of a dual-stack connect was refused', () => {
    const error = new AggregateError([codedError('ECONNREFUSED'), codedError('ECONNREFUSED')]);
    expect(isUnreachable(error)).toBe(true);
  });

  it('reads errors by shape, so one made in another realm counts too', () => {
    const error: unknown = runInNewContext(
      "new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })",
    );
    expect(error instanceof Error).toBe(false);
    expect(isUnreachable(error)).toBe(true);
  });

  it('is false for a refused login, a lost vhost, a SQL error and non-errors', () => {
    expect(isUnreachable(codedError('ER_ACCESS_DENIED_ERROR', "Access denied for user 'x'"))).toBe(
      false,
    );
    expect(
      isUnreachable(new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>')),
    ).toBe(false);
    expect(
      isUnreachable(codedError('ER_PARSE_ERROR', 'You have an error in your SQL syntax')),
    ).toBe(false);
    expect(isUnreachable(undefined)).toBe(false);
    expect(isUnreachable('ECONNREFUSED')).toBe(false);
  });
});

describe('isCredentialsRejected', () => {
  it.each(['ER_ACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR'])(
    'is true for mysql2 %s',
    (code) => {
      expect(
        isCredentialsRejected(codedError(code, "Access denied for user 'x'@'127.0.0.1'")),
      ).toBe(true);
    },
  );

  it("is true for RabbitMQ's refused handshake", () => {
    const error = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"',
    );
    expect(isCredentialsRejected(error)).toBe(true);
  });

  it('is false for a refused connection', () => {
    expect(isCredentialsRejected(codedError('ECONNREFUSED'))).toBe(false);
  });
});

describe('describeUnreachable', () => {
  it('names the address, the variables that set it and the Docker alternative, in two lines', () => {
    const text = describeUnreachable({ ...mysqlTarget, error: codedError('ECONNREFUSED') });
    expect(text).toBe(
      [
        'cannot reach MySQL at 127.0.0.1:3306 (ECONNREFUSED); MYSQL_HOST and MYSQL_PORT set where to look.',
        `  ${COMPOSE_SERVICES_REMEDY}`,
      ].join('\n'),
    );
    expect(COMPOSE_SERVICES_REMEDY).toContain('docker compose up -d mysql rabbitmq');
  });

  it("gives fetch's cause, not its wrapper, and the caller's own remedy", () => {
    const text = describeUnreachable({
      service: 'the producer',
      address: 'http://127.0.0.1:5000',
      variables: ['BASE_URL'],
      remedy: 'Start it with `npm start`.',
      error: new TypeError('fetch failed', { cause: codedError('ECONNREFUSED') }),
    });
    expect(text).toBe(
      [
        'cannot reach the producer at http://127.0.0.1:5000 (ECONNREFUSED); BASE_URL sets where to look.',
        '  Start it with `npm start`.',
      ].join('\n'),
    );
  });

  it('says the server rejected the credentials, naming them, when MySQL refuses the login', () => {
    const error = codedError('ER_ACCESS_DENIED_ERROR', "Access denied for user 'app'@'127.0.0.1'");
    expect(describeUnreachable({ ...mysqlTarget, error })).toBe(
      "MySQL at 127.0.0.1:3306 rejected the credentials (Access denied for user 'app'@'127.0.0.1'): check MYSQL_USER and MYSQL_PASSWORD.",
    );
  });

  it('says RabbitMQ rejected the credentials without repeating its long message', () => {
    const text = describeUnreachable({
      service: 'RabbitMQ',
      address: '127.0.0.1:5672',
      variables: ['AMQP_URL'],
      error: new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "..."'),
    });
    expect(text).toBe(
      'RabbitMQ at 127.0.0.1:5672 rejected the credentials (ACCESS_REFUSED): check the user and password.',
    );
  });

  it('reports any other failure in one line with its message', () => {
    const error = new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    expect(
      describeUnreachable({ service: 'RabbitMQ', address: '127.0.0.1:5672', variables: [], error }),
    ).toBe(
      'RabbitMQ at 127.0.0.1:5672 failed: Expected ConnectionOpenOk; got <ConnectionClose channel:0>',
    );
  });
});

describe('hostAndPort', () => {
  it('drops the user and password and fills in the default port of the scheme', () => {
    expect(hostAndPort('amqp://guest:secret@rabbit.internal/vhost')).toBe('rabbit.internal:5672');
    expect(hostAndPort('amqps://broker:5999')).toBe('broker:5999');
    expect(hostAndPort('http://localhost')).toBe('localhost:80');
  });
});
