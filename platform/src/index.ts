export * from './broker-connection';
export * from './logger';
export * from './service-hint';
export * from './shutdown';
export * from './start-failure';
export * from './environment';
export * from './events-exchange';
