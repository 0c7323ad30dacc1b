export { type CommandRecordKey, commandRecordKey } from './command-records';
export * from './event-outbox';
export * from './migrate';
export * from './pools';
export * from './subscription-queries';
export * from './subscription-repository';
export type { TransactionOutcome } from './transaction';
