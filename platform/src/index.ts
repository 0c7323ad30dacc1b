export * from './startup';
export * from './broker-connection';
export * from './service-hint';
export * from './shutdown';
export * from './events-exchange';
export * from './tracing/trace-context';
