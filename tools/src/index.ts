export { parseTtl, signToken, type TokenRequest } from './tokens';
export { readEvent, type ReadEvent } from './events/read-event';
export {
  subscribeToEvents,
  type EventDelivery,
  type EventSubscription,
  type RefusedDelivery,
} from './events/event-subscription';
