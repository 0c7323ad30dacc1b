export * from './service-hint';
