import { defineConfig } from 'tsup';

// One bundle per module system from lib/index.ts: dist/index.mjs + index.d.mts for `import`,
// dist/index.cjs + index.d.cts for `require`. Dependencies (and the optional peers) stay external.
export default defineConfig({
  entry: { index: 'lib/index.ts' },
  format: ['esm', 'cjs'],
  outExtension: ({ format }) => (format === 'cjs' ? { js: '.cjs', dts: '.d.cts' } : { js: '.mjs', dts: '.d.mts' }),
  dts: true,
  sourcemap: true,
  clean: true,
  // `__dirname` / `__filename` in the ESM bundle (lost-callbacks.ts, the lazy cls-hooked loader).
  shims: true,
  splitting: false,
  target: 'node18',
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
});
