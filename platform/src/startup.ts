/**
 * What a process uses before it loads the libraries tracing instruments (express, amqplib,
 * mysql2): its environment read and checked, its logger, tracing's start, and the report of a
 * start that failed. Nothing here loads those libraries; `@subscriptions/platform` holds the rest.
 */
export * from './broker-urls';
export * from './environment';
export * from './logger';
export * from './start-failure';
export * from './tracing/settings';
export * from './tracing/start-tracing';
