/** Tests run from TypeScript source through SWC; `tsc -p tsconfig.test.json` type-checks them. */
const transform = {
  // jose and oidc-provider ship ES modules only; they are compiled to CommonJS with the tests.
  '^.+\\.(ts|js)$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
  ],
};
const moduleNameMapper = {
  '^@subscriptions/contracts$': '<rootDir>/contracts/src/index.ts',
  '^@subscriptions/platform$': '<rootDir>/platform/src/index.ts',
  '^@subscriptions/platform/startup$': '<rootDir>/platform/src/startup.ts',
  '^@subscriptions/store$': '<rootDir>/store/src/index.ts',
  '^@subscriptions/tools$': '<rootDir>/tools/src/index.ts',
};

const project = (displayName, testMatch, globalSetup) => ({
  displayName,
  ...(globalSetup ? { globalSetup } : {}),
  rootDir: __dirname,
  testMatch,
  // The cluster scenarios, the Galera scenarios and the Docker stack run apart, by
  // `npm run test:cluster`, `test:galera` and `test:docker` (their own Jest configs).
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/e2e/cluster/',
    '<rootDir>/e2e/galera/',
    '<rootDir>/e2e/docker/',
  ],
  transform,
  moduleNameMapper,
  testEnvironment: 'node',
  transformIgnorePatterns: ['/node_modules/(?!(jose|oidc-provider)/)'],
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    project('unit', ['<rootDir>/*/test/unit/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts']),
    // Unit tests need no service; the others check theirs first and name what is missing.
    project(
      'integration',
      ['<rootDir>/*/test/integration/**/*.test.ts'],
      '<rootDir>/test-support/global-setup-integration.ts',
    ),
    project('e2e', ['<rootDir>/e2e/**/*.test.ts'], '<rootDir>/test-support/global-setup-e2e.ts'),
  ],
  // Integration and e2e tests wait on real brokers and databases.
  testTimeout: 30_000,
};
