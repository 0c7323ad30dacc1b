export * from './auth';
export * from './commands';
export * from './errors';
export * from './events';
export * from './messages';
export * from './topology';
export * from './trace-context';
