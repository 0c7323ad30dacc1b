/**
 * The failover scenarios on a private three-node MariaDB Galera cluster behind HAProxy
 * (`npm run test:galera`). Apart from `npm test`: one file boots the cluster and runs its
 * scenarios in turn, each on a database and vhost of its own.
 */
const { projects } = require('./jest.config.js');

const e2e = projects.find((project) => project.displayName === 'e2e');

/** @type {import('jest').Config} */
module.exports = {
  ...e2e,
  displayName: 'galera',
  testMatch: ['<rootDir>/e2e/galera/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test-support/galera/global-setup.ts',
  maxWorkers: 1,
  // A scenario runs half a minute of load around its fault, then audits every key and event.
  testTimeout: 240_000,
};
