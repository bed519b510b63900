import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { defineConfig } from 'tsup';

/**
 * The entry points: the core (`callscope`) and one per integration (`callscope/<name>`, from `lib/<name>/`).
 * Each is listed in package.json `exports` too.
 */
export const ENTRY_POINTS = {
  index: 'lib/index.ts',
  opentelemetry: 'lib/opentelemetry/index.ts',
  anthropic: 'lib/anthropic/index.ts',
  langchain: 'lib/langchain/index.ts',
  openai: 'lib/openai/index.ts',
  http: 'lib/http/index.ts',
  express: 'lib/express/index.ts',
  fastify: 'lib/fastify/index.ts',
  hono: 'lib/hono/index.ts',
  viewer: 'lib/viewer/index.ts',
} as const;

/** The command line (`npx callscope view`), package.json `bin`: a CommonJS file only, not an entry point. */
const CLI = { cli: 'lib/viewer/cli.ts' } as const;

// One CommonJS build of all entry points with code splitting: the core's modules live in shared chunks
// (dist/chunk-*.cjs) that every entry point requires, so `callscope` and `callscope/opentelemetry` share
// one AsyncLocalStorage, one set of settings and one set of queues. Dependencies and the optional peers
// stay external.
//
// The ESM entries are then replaced by re-exports of the CommonJS ones. A second, ESM copy of the code
// would hold a second AsyncLocalStorage and a second set of settings: an app (or two of its dependencies)
// loading callscope both ways would see runs started through one copy lose their parent in the other,
// the very failure callscope exists to prevent. Node reads the bundles' named exports statically, so
// `import { RunnableLambda } from 'callscope'` still works. The ESM build is kept only for its `.d.mts`.
export default defineConfig({
  entry: { ...ENTRY_POINTS, ...CLI },
  format: ['esm', 'cjs'],
  outExtension: ({ format }) => (format === 'cjs' ? { js: '.cjs', dts: '.d.cts' } : { js: '.mjs', dts: '.d.mts' }),
  dts: true,
  sourcemap: true,
  clean: true,
  // `__dirname` / `__filename` in the ESM bundle (lost-callbacks.ts, the lazy cls-hooked loader).
  shims: true,
  // Shared chunks for CommonJS too (see above): one copy of the core's state for every entry point.
  splitting: true,
  // Rollup then writes the CommonJS chunks itself (without it, tsup converts them with sucrase, which rewrites
  // every `?.` and `??` into helper calls that cost closures on the hot path).
  treeshake: true,
  target: 'node18',
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
  onSuccess: async () => {
    for (const name of Object.keys(ENTRY_POINTS)) {
      writeFileSync(
        `dist/${name}.mjs`,
        `// callscope ships one copy of its code (see tsup.config.ts): the CommonJS bundle.\nexport * from './${name}.cjs';\n`,
      );
      rmSync(`dist/${name}.mjs.map`, { force: true });
    }
    // The command line runs as CommonJS only (package.json `bin`).
    for (const file of ['cli.mjs', 'cli.mjs.map']) rmSync(`dist/${file}`, { force: true });
    // The ESM build's own chunks are not used by anything once the entries re-export the CommonJS ones.
    for (const file of readdirSync('dist')) {
      if (/^chunk-.*\.mjs(\.map)?$/.test(file)) rmSync(`dist/${file}`, { force: true });
    }
    await buildBrowser();
  },
});

/**
 * The browser build (package.json `browser` condition, which Cloudflare's wrangler also selects): the core
 * alone, as one ES module, with lib/platform/browser.mts in place of lib/platform/node.ts. A `node:` import
 * reachable from it fails the build. It runs only in runtimes without Node's module loader, so it cannot meet
 * the Node bundles in one process: no second copy of the shared state.
 */
async function buildBrowser(): Promise<void> {
  const platformDir = path.resolve('lib/platform');
  const browserPlatform: Plugin = {
    name: 'callscope-browser-platform',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /(^|\/)platform(\/index)?$/ }, (args) =>
        path.resolve(args.resolveDir, args.path).startsWith(platformDir) ? { path: path.join(platformDir, 'browser.mts') } : undefined,
      );
      pluginBuild.onResolve({ filter: /^node:/ }, (args) => ({
        errors: [{ text: `\`${args.path}\` is reachable from the browser build (imported by ${args.importer})` }],
      }));
    },
  };
  await build({
    entryPoints: { browser: ENTRY_POINTS.index },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Top-level await (the AsyncLocalStorage probe in lib/platform/browser.mts).
    target: 'es2022',
    sourcemap: true,
    external: ['zod', 'uuid', 'picocolors'],
    tsconfig: 'tsconfig.build.json',
    plugins: [browserPlatform],
    logLevel: 'warning',
  });
}
