import { rmSync, writeFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

// One bundle per module system from lib/index.ts: dist/index.mjs + index.d.mts for `import`,
// dist/index.cjs + index.d.ts for `require`. Dependencies (and the optional peers) stay external.
//
// The ESM entry is then replaced by a re-export of the CommonJS bundle. A second, ESM copy of the code
// would hold a second AsyncLocalStorage and a second set of settings: an app (or two of its dependencies)
// loading callscope both ways would see runs started through one copy lose their parent in the other,
// the very failure callscope exists to prevent. Node reads the bundle's named exports statically, so
// `import { RunnableLambda } from 'callscope'` still works.
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
  onSuccess: async () => {
    writeFileSync('dist/index.mjs', "// callscope ships one copy of its code (see tsup.config.ts): the CommonJS bundle.\nexport * from './index.cjs';\n");
    rmSync('dist/index.mjs.map', { force: true });
  },
});
