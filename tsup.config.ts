import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Parts of the core that `require('callscope')` loads only when one of their names is first read: each is
 * built as a CommonJS file of its own (dist/lazy-<name>.cjs, not an entry point of the package), and the
 * root entry reaches it through a getter (see {@link lazyCoreParts}). Their code is about 40% of the core's
 * functions, and compiling functions is most of what an import costs.
 */
const LAZY_PARTS = { 'lazy-tracers': 'lib/tracers/index.ts', 'lazy-traceable': 'lib/traceable/index.ts', 'lazy-events': 'lib/events/index.ts' } as const;

/** The root entry's imports of the lazy parts, as written in lib/index.ts, and the file each is built to. */
const LAZY_IMPORTS: Readonly<Record<string, string>> = {
  './tracers': './lazy-tracers.cjs',
  './traceable': './lazy-traceable.cjs',
  './events': './lazy-events.cjs',
};

/** Makes the root entry's imports of {@link LAZY_PARTS} external, so that its bundle requires their files. */
const lazyCoreParts: Plugin = {
  name: 'callscope-lazy-core-parts',
  setup(pluginBuild) {
    const rootEntry = path.resolve(ENTRY_POINTS.index);
    pluginBuild.onResolve({ filter: /^\.\/(tracers|traceable|events)$/ }, (args) => {
      const target = LAZY_IMPORTS[args.path];
      return path.resolve(args.importer) === rootEntry && target !== undefined ? { path: target, external: true } : undefined;
    });
  },
};

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
  entry: { ...ENTRY_POINTS, ...CLI, ...LAZY_PARTS },
  esbuildPlugins: [lazyCoreParts],
  format: ['esm', 'cjs'],
  outExtension: ({ format }) => (format === 'cjs' ? { js: '.cjs', dts: '.d.cts' } : { js: '.mjs', dts: '.d.mts' }),
  dts: { entry: { ...ENTRY_POINTS, ...CLI } },
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
    deferLazyParts();
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
 * Makes dist/index.cjs load each of {@link LAZY_PARTS} when one of its names is first read, instead of at
 * import: the bundle's `var part = require('./lazy-<name>.cjs')` becomes a proxy that requires the file on
 * first use. The getters the bundle defines on `exports` (`get: function () { return part.Name; }`) stay as
 * they are, so Node still finds the names for `import { Name } from 'callscope'` (which reads every name, so
 * an ES module import loads the parts at once). Lines keep their place: the source map stays true.
 *
 * @throws when the bundle does not require a part the way this expects (a bundler update): the build fails
 *   rather than ship a root entry that loads everything, or nothing.
 */
function deferLazyParts(): void {
  const file = 'dist/index.cjs';
  let code = readFileSync(file, 'utf8');
  for (const target of Object.values(LAZY_IMPORTS)) {
    const statement = new RegExp(`^var (\\w+) = require\\('${target.replace(/[.]/g, '\\.')}'\\);$`, 'm');
    const match = statement.exec(code);
    if (match === null) throw new Error(`${file} does not require ${target} as \`var part = require('${target}');\`: cannot defer it.`);
    code = code.replace(match[0], `var ${match[1]} = lazyPart(() => require('${target}'));`);
  }
  const strict = "'use strict';\n";
  if (!code.startsWith(strict)) throw new Error(`${file} does not start with ${JSON.stringify(strict)}: cannot add the lazy loader.`);
  // On the first line, after the directive, so no line of the bundle moves.
  const loader =
    " /* Parts of the core loaded when one of their names is first read (tsup.config.ts, deferLazyParts). */ function lazyPart(load) { var part; return new Proxy({}, { get: function (_, name) { return (part = part || load())[name]; } }); }";
  writeFileSync(file, strict.slice(0, -1) + loader + code.slice(strict.length - 1));
  for (const name of Object.keys(LAZY_PARTS)) {
    for (const extension of ['.mjs', '.mjs.map', '.d.ts', '.d.mts', '.d.cts']) rmSync(`dist/${name}${extension}`, { force: true });
  }
}

/**
 * The entry points that have a browser build besides the core: those whose integration works without Node's
 * module loader, the request scope for fetch-style handlers (Hono and Web handlers on Workers and in edge
 * functions) and the OpenAI client wrapper. The other integrations load their optional peer with `require`
 * when first used (OpenTelemetry, Anthropic, LangChain) or serve Node frameworks (Express, Fastify, the
 * viewer): they have no `browser` condition, and a bundle for browsers or Workers that imports one fails to
 * build, rather than load a second copy of the core.
 */
const BROWSER_ENTRY_POINTS = { browser: ENTRY_POINTS.index, 'browser-http': ENTRY_POINTS.http, 'browser-hono': ENTRY_POINTS.hono, 'browser-openai': ENTRY_POINTS.openai } as const;

/**
 * The browser build (package.json `browser` condition, which Cloudflare's wrangler also selects): the core
 * and {@link BROWSER_ENTRY_POINTS} as ES modules sharing their code in chunks (dist/browser-chunk-*.mjs), so
 * `callscope` and `callscope/hono` in one bundle hold one AsyncLocalStorage and one set of settings, with
 * lib/platform/browser.mts in place of lib/platform/node.ts. A `node:` import reachable from it fails the
 * build. It runs only in runtimes without Node's module loader, so it cannot meet the Node bundles in one
 * process: no second copy of the shared state.
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
    entryPoints: BROWSER_ENTRY_POINTS,
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'browser-chunk-[hash]',
    format: 'esm',
    platform: 'browser',
    // Top-level await (the AsyncLocalStorage probe in lib/platform/browser.mts).
    target: 'es2022',
    sourcemap: true,
    // Dependencies, and the peers the integrations above import for their types only.
    external: ['zod', 'uuid', 'picocolors', 'hono', 'openai'],
    tsconfig: 'tsconfig.build.json',
    plugins: [browserPlatform],
    logLevel: 'warning',
  });
}
