import { describe, expect, it } from '@jest/globals';
import { withHeartbeat } from '../../src';

describe('withHeartbeat', () => {
  it('adds a heartbeat to a URL without one, keeping the vhost and credentials', () => {
    const url = new URL(withHeartbeat('amqp://guest:guest@127.0.0.1:5672/t_abc'));
    expect(url.searchParams.get('heartbeat')).toBe('5');
    expect(url.pathname).toBe('/t_abc');
    expect(url.username).toBe('guest');
  });

  it("keeps the operator's heartbeat", () => {
    const url = new URL(withHeartbeat('amqp://127.0.0.1?heartbeat=30&frameMax=8192'));
    expect(url.searchParams.get('heartbeat')).toBe('30');
    expect(url.searchParams.get('frameMax')).toBe('8192');
  });
});
