// Two projects: unit (pure logic, no cluster) and e2e (the real local cluster from scripts/testenv).
const transform = {
  '^.+\\.ts$': [
    'ts-jest',
    { isolatedModules: true, tsconfig: { module: 'commonjs', esModuleInterop: true, isolatedModules: true } },
  ],
};
module.exports = {
  projects: [
    { displayName: 'unit', testEnvironment: 'node', roots: ['<rootDir>/test/unit'], transform },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/e2e'],
      transform,
      // The e2e suite drives the bundled executables; no ESM dependency is imported in-process.
      setupFilesAfterEnv: ['<rootDir>/test/e2e/setup.ts'],
    },
  ],
};
