/**
 * The compose stack on a real Docker engine (`npm run test:docker`): apart from `npm test`, as it
 * builds images and starts a private engine; one file, its scenarios in order on one stack.
 */
const { projects } = require('./jest.config.js');

const e2e = projects.find((project) => project.displayName === 'e2e');

/** @type {import('jest').Config} */
module.exports = {
  ...e2e,
  displayName: 'docker',
  testMatch: ['<rootDir>/e2e/docker/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  // The engine, the base images and the stack are the test's own: no service of the machine.
  globalSetup: undefined,
  maxWorkers: 1,
  // A scenario waits on image builds and container restarts.
  testTimeout: 600_000,
};
