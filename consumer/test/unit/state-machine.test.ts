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
