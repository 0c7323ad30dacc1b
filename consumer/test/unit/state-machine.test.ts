import { describe, expect, it } from '@jest/globals';
import { PURCHASE, STATUS_CHANGES } from '../../src/subscriptions/state-machine';

/** The contract's state machine, written down here from docs/contract.md, not from the code. */
const CONTRACT = [
  // change, from, allowed, status after, event
  ['cancel', 'ACTIVE', true, 'CANCELED', 'SUBSCRIPTION_CANCELED'],
  ['cancel', 'CANCELED', false, 'CANCELED', null],
  ['restart', 'CANCELED', true, 'ACTIVE', 'SUBSCRIPTION_RESTARTED'],
  ['restart', 'ACTIVE', false, 'ACTIVE', null],
] as const;

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

  it.each(CONTRACT)(
    '%s of a subscription that is %s: allowed %p, leaves it %s, appends %s',
    (change, status, allowed, after, event) => {
      const rule = STATUS_CHANGES[change];
      const applies = rule.from === status;
      expect({
        allowed: applies,
        after: applies ? rule.to : status,
        event: applies ? rule.event : null,
      }).toEqual({ allowed, after, event });
    },
  );
});
