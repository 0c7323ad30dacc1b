/**
 * The failover scenarios on a private three-node RabbitMQ cluster (`npm run test:cluster`).
 * Apart from `npm test`: each boots a cluster on fixed ports, so they run one at a time.
 */
const { projects } = require('./jest.config.js');

const e2e = projects.find((project) => project.displayName === 'e2e');

/** @type {import('jest').Config} */
module.exports = {
  ...e2e,
  displayName: 'cluster',
  testMatch: ['<rootDir>/e2e/cluster/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test-support/cluster/global-setup.ts',
  maxWorkers: 1,
  // A scenario boots a cluster (about 25 s), runs a minute of load and tears down.
  testTimeout: 240_000,
};
