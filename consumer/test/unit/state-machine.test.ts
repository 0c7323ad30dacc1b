import { describe, expect, it } from '@jest/globals';
import { STATUS_AFTER } from '@subscriptions/contracts';
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

describe('the state machine and the event contract', () => {
  it("agree on the status each change's event reports", () => {
    expect(STATUS_AFTER[PURCHASE.event]).toBe(PURCHASE.to);
    for (const change of Object.values(STATUS_CHANGES)) {
      expect(STATUS_AFTER[change.event]).toBe(change.to);
    }
  });
});
