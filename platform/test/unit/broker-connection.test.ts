import { EventEmitter } from 'node:events';
import { describe, expect, it, jest } from '@jest/globals';
import {
  brokerUrlsSchema,
  checkBrokerUrls,
  closeConnectionWhenChannelDies,
  createBrokerRotation,
  parseBrokerUrls,
  rotateOnFailure,
} from '../../src';

describe('parseBrokerUrls', () => {
  it('reads every field of one URL, with the heartbeat added', () => {
    expect(parseBrokerUrls('amqp://app:s%40cret@rabbit-1:5673/t_abc')).toEqual([
      {
        protocol: 'amqp',
        hostname: 'rabbit-1',
        port: 5673,
        username: 'app',
        password: 's@cret',
        vhost: 't_abc',
        heartbeat: 5,
        frameMax: undefined,
        channelMax: undefined,
        maxFrameSize: undefined,
        locale: undefined,
        address: 'rabbit-1:5673',
      },
    ]);
  });

  it('splits on commas and trims, keeping the order and each entry its own settings', () => {
    const endpoints = parseBrokerUrls(
      ' amqp://a:1@node1:5701/%2F?heartbeat=30 ,amqps://b:2@node2/v?frameMax=8192, amqp://[::1]',
    );
    expect(endpoints.map((endpoint) => endpoint.address)).toEqual([
      'node1:5701',
      'node2:5671',
      '[::1]:5672',
    ]);
    expect(endpoints[0]).toMatchObject({ username: 'a', vhost: '%2F', heartbeat: 30 });
    expect(endpoints[1]).toMatchObject({ protocol: 'amqps', frameMax: 8192, heartbeat: 5 });
    expect(endpoints[2]).toMatchObject({ hostname: '::1', port: 5672, vhost: '' });
  });

  it('takes guest/guest for an entry without a login, as amqplib does for a string URL', () => {
    expect(parseBrokerUrls('amqp://node1')[0]).toMatchObject({
      username: 'guest',
      password: 'guest',
    });
  });

  it('accepts an array as well as the comma-separated form', () => {
    expect(parseBrokerUrls(['amqp://node1', 'amqp://node2']).map((e) => e.address)).toEqual([
      'node1:5672',
      'node2:5672',
    ]);
  });

  it('names every bad entry, on a line of its own, without its password', () => {
    const { problems } = checkBrokerUrls(
      'amqp://ok,http://x, ,amqp://u:hunter2@h?heartbeat=soon,not a url,amqp://',
    );
    expect(problems).toEqual([
      'entry 2 "http://x" is not an amqp:// or amqps:// URL',
      'entry 3 is empty',
      'entry 4 "amqp://u:***@h?heartbeat=soon" has heartbeat=soon: must be a whole number',
      'entry 5 "not a url" is not an amqp:// or amqps:// URL',
      'entry 6 "amqp://" names no host',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('says "entry N" only when there are several', () => {
    expect(checkBrokerUrls('http://x').problems).toEqual([
      '"http://x" is not an amqp:// or amqps:// URL',
    ]);
    expect(() => parseBrokerUrls('amqp://a,')).toThrow('entry 2 is empty');
  });

  it('gives a config schema one issue per bad entry', () => {
    const result = brokerUrlsSchema.safeParse('ftp://a,amqp://b,amqp://c?channelMax=-1');
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message)).toEqual([
      'entry 1 "ftp://a" is not an amqp:// or amqps:// URL',
      'entry 3 "amqp://c?channelMax=-1" has channelMax=-1: must be a whole number',
    ]);
    expect(brokerUrlsSchema.parse('amqp://a, amqp://b')).toBe('amqp://a, amqp://b');
  });
});

/** The fields amqplib's connect reads off an object URL, as it reads them on one attempt. */
function attemptOf(url: ReturnType<typeof createBrokerRotation>['url']) {
  const { protocol, hostname, port, username, password, vhost, heartbeat } = url;
  return { protocol, hostname, port, username, password, vhost, heartbeat };
}

describe('createBrokerRotation', () => {
  const endpoints = parseBrokerUrls(
    'amqp://a:pa@node1:5701/v1,amqps://b:pb@node2:5702/v2?heartbeat=9,amqp://node3:5703',
  );

  it('gives amqplib every field of the current entry, explicitly', () => {
    const rotation = createBrokerRotation(endpoints);
    expect(attemptOf(rotation.url)).toEqual({
      protocol: 'amqp',
      hostname: 'node1',
      port: 5701,
      username: 'a',
      password: 'pa',
      vhost: 'v1',
      heartbeat: 5,
    });
  });

  it('moves through the list and wraps, each attempt reading the entry then current', () => {
    const rotation = createBrokerRotation(endpoints);
    const seen = [attemptOf(rotation.url)];
    for (let step = 0; step < 3; step += 1) {
      rotation.advance();
      seen.push(attemptOf(rotation.url));
    }
    expect(seen.map(({ hostname, port }) => `${hostname}:${port}`)).toEqual([
      'node1:5701',
      'node2:5702',
      'node3:5703',
      'node1:5701',
    ]);
    expect(seen[1]).toMatchObject({ protocol: 'amqps', username: 'b', heartbeat: 9 });
    expect(seen[2]).toMatchObject({ username: 'guest', password: 'guest', vhost: '' });
  });

  it('stays on the one broker of a list of one', () => {
    const rotation = createBrokerRotation(parseBrokerUrls('amqp://only:5672'));
    expect(rotation.advance().address).toBe('only:5672');
  });

  it('refuses an empty list rather than letting amqplib pick localhost', () => {
    expect(() => createBrokerRotation([])).toThrow('no broker');
  });
});

describe('rotateOnFailure', () => {
  it('moves on after a failed attempt and after a lost connection, not after a connect', () => {
    const events = new EventEmitter();
    const rotation = createBrokerRotation(
      parseBrokerUrls('amqp://node1,amqp://node2,amqp://node3'),
    );
    const moves = rotateOnFailure(events, rotation);

    events.emit('connect-failed', new Error('ECONNREFUSED'));
    expect(rotation.current().address).toBe('node2:5672');
    expect(moves.lastLeft()?.address).toBe('node1:5672');

    events.emit('connect', {});
    expect(rotation.current().address).toBe('node2:5672');

    events.emit('disconnect', new Error('socket closed'));
    expect(rotation.current().address).toBe('node3:5672');
    events.emit('connect-failed', new Error('ECONNREFUSED'));
    expect(rotation.current().address).toBe('node1:5672');
    expect(moves.lastLeft()?.address).toBe('node3:5672');
  });
});

describe('closeConnectionWhenChannelDies', () => {
  const setUp = (onPurpose: boolean, close = async () => undefined) => {
    const model = { close: jest.fn(close) };
    const channel = new EventEmitter();
    closeConnectionWhenChannelDies(model, channel, () => onPurpose);
    return { model, channel };
  };

  it('closes the connection of a channel that died alone, so recovery rebuilds every channel', () => {
    const { model, channel } = setUp(false);
    channel.emit('close');
    expect(model.close).toHaveBeenCalledTimes(1);
  });

  it('leaves the connection open when the owner closed the channel on purpose', () => {
    const { model, channel } = setUp(true);
    channel.emit('close');
    expect(model.close).not.toHaveBeenCalled();
  });

  it('ignores a connection that is already gone', async () => {
    const { model, channel } = setUp(false, async () => {
      throw new Error('Connection closed');
    });
    channel.emit('close');
    await Promise.resolve();
    expect(model.close).toHaveBeenCalledTimes(1);
  });
});
