import { describe, expect, it } from '@jest/globals';
import { PURCHASE, STATUS_CHANGES } from '../../src/subscriptions/state-machine';

describe('subscription state machine', () => {
  it('creates purchases ACTIVE with a SUBSCRIPTION_PURCHASED event', () => {
    expect(PURCHASE).toEqual({ to: 'ACTIVE', event: 'SUBSCRIPTION_PURCHASED' });
  });

  it.each([
    ['cancel', 'ACTIVE', true],
    ['cancel', 'CANCELED', false],
    ['restart', 'CANCELED', true],
    ['restart', 'ACTIVE', false],
  ] as const)('%s from %s is allowed: %p', (change, status, allowed) => {
    // `from` is the status the conditional update requires of the row.
    expect(STATUS_CHANGES[change].from === status).toBe(allowed);
  });

  it('moves cancel to CANCELED and restart to ACTIVE, each with its own event', () => {
    expect(STATUS_CHANGES.cancel).toMatchObject({ to: 'CANCELED', event: 'SUBSCRIPTION_CANCELED' });
    expect(STATUS_CHANGES.restart).toMatchObject({ to: 'ACTIVE', event: 'SUBSCRIPTION_RESTARTED' });
  });
});
