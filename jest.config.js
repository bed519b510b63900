/**
 * Jest runs the TypeScript specs through ts-jest in transpile-only mode
 * (`isolatedModules` in tsconfig.json): type errors are caught once by
 * `npm run typecheck`, which `npm test` runs before jest, instead of once per
 * spec file.
 *
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Specs that spawn child processes (examples, module-loading checks) need more than the default 5 s.
  testTimeout: 30000,
  // Two workers even on a 2-core machine, where jest's default (cores - 1) runs one: many specs mostly wait
  // on child processes, loopback servers and a browser, so a second worker brings the suite from about
  // 210 s to about 130 s here.
  maxWorkers: 2,
};
