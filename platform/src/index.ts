export * from './broker-connection';
export * from './database-errors';
export * from './logger';
export * from './service-hint';
export * from './shutdown';
export * from './subscription-rows';
export * from './environment';
export * from './event-rows';
