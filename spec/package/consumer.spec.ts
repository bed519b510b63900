import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

// The package as a user gets it: built, packed with `npm pack`, installed from the tarball into a fresh
// project outside the repository (so nothing resolves to the repo's own node_modules), then used from an
// ES module, from a CommonJS module, and from TypeScript in its strictest module mode. Only this spec
// builds; the rest of the suite runs on the sources.

const root = resolve(__dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// Building, packing and installing (from the npm cache when it can) take a while, a cold cache longer.
jest.setTimeout(240_000);

interface PackedFile {
  readonly path: string;
}

/** Runs a command and returns its stdout; throws with everything it printed when it fails. */
function run(command: string, args: readonly string[], cwd: string): string {
  const child = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (child.error !== undefined) throw child.error;
  if (child.status !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` failed in ${cwd} (exit ${child.status}):\n${child.stdout}\n${child.stderr}`);
  }
  return child.stdout;
}

function versionIn(dir: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', dir, 'package.json'), 'utf8')) as { version: string }).version;
}

// Loaded before callscope by both entry files: counts the async hooks installed by anything but Node's own
// AsyncLocalStorage, and tells whether the cls-hooked package has been loaded (its files in the CommonJS
// cache, which createRequire shares). Node 22 implements AsyncLocalStorage with an async hook that its
// internal module node:internal/async_local_storage/async_hooks creates, through the public createHook, when
// the class is first read: a hook of Node's, there for any AsyncLocalStorage user, not one callscope adds.
const PROBE = `
const asyncHooks = require('node:async_hooks');
const path = require('node:path');
let hooks = 0;
const createHook = asyncHooks.createHook;
asyncHooks.createHook = (...args) => {
  if (!/node:internal\\/async_local_storage\\//.test(new Error().stack)) hooks++;
  return createHook(...args);
};
const clsPackage = path.sep + 'node_modules' + path.sep + 'cls-hooked' + path.sep;
globalThis.probe = {
  snapshot: () => ({ clsLoaded: Object.keys(require.cache).some((file) => file.includes(clsPackage)), hooks }),
};
`;

const NAMES = 'ConsoleTracer, FakeChatModel, JsonlTracer, RunCollector, RunnableLambda, RunnableSequence, configure, tool';

// The same scenario for both module systems, with `entry` naming the file callscope resolved to.
const SCENARIO = `
const afterImport = globalThis.probe.snapshot();

const model = new FakeChatModel({ responses: ['Sunny'], streaming: true });
const weather = tool(async ({ city }) => (await model.invoke('Weather in ' + city + '?')).content, {
  name: 'weather',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string() }),
});
const plan = RunnableLambda.from(async (city) => 'Pack for: ' + (await weather.invoke({ city })), { name: 'plan' });
const trip = RunnableSequence.from([plan, (text) => text.toUpperCase()], { name: 'trip' });
const shape = (run) => ({
  name: run.type + ' ' + run.name,
  linked: run.children.every((child) => child.parentRunId === run.id),
  children: run.children.map(shape),
});

async function traced() {
  const collector = new RunCollector();
  const printed = new PassThrough().setEncoding('utf8');
  const lines = new PassThrough().setEncoding('utf8');
  const jsonl = new JsonlTracer(lines);
  const tracer = new ConsoleTracer({ stream: printed, timings: false, colors: true });
  const output = await trip.invoke('Lisbon', { callbacks: [collector, tracer, jsonl] });
  await jsonl.close();
  return {
    output,
    tree: shape(collector.runs[0]),
    printed: String(printed.read()).replace(/\\x1b\\[[0-9;]*m/g, '').split('\\n')[0],
    jsonlLines: String(lines.read()).trim().split('\\n').map((line) => JSON.parse(line).name),
  };
}

const defaultMode = await traced();
const afterRuns = globalThis.probe.snapshot();
configure({ propagation: 'cls-hooked' });
const clsHookedMode = await traced();
const afterClsHooked = globalThis.probe.snapshot();

// Lost-callback diagnostics find the caller's line by leaving out callscope's own files (\`__dirname\`).
configure({ propagation: 'explicit', onLostCallbacks: 'throw' });
const leaf = RunnableLambda.from((x) => x, { name: 'leaf' });
const parent = RunnableLambda.from((x) => leaf.invoke(x), { name: 'parent' });
const lost = await parent.invoke(1, { callbacks: [new RunCollector()] }).then(
  () => undefined,
  (error) => ({ name: error.name, code: error.code, callSite: String(error.callSite).replace(/:\\d+:\\d+$/, '') }),
);
configure({ propagation: 'async-local-storage', onLostCallbacks: 'ignore' });

console.log(JSON.stringify({ entry, afterImport, defaultMode, afterRuns, clsHookedMode, afterClsHooked, lost }));
`;

const ESM = `import './probe.cjs';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ${NAMES} } from 'callscope';

const entry = fileURLToPath(import.meta.resolve('callscope'));
${SCENARIO}`;

const CJS = `require('./probe.cjs');
const { PassThrough } = require('node:stream');
const { z } = require('zod');
const { ${NAMES} } = require('callscope');

const entry = require.resolve('callscope');
(async () => {
${SCENARIO}
})().catch((error) => { console.error(error); process.exitCode = 1; });`;

// Strict TypeScript against the published declarations, from an ES module (`import`)...
const TYPES_ESM = `import { z } from 'zod';
import {
  AsyncCallbackHandler,
  BaseCallbackHandler,
  ConsoleTracer,
  JsonlTracer,
  RunCollector,
  RunnableLambda,
  tool,
  type ChainValues,
  type CollectedRun,
  type JsonlRunRecord,
  type LLMResult,
  type RunnableConfig,
  type Serialized,
} from 'callscope';

class RootCounter extends BaseCallbackHandler {
  roots = 0;
  override handleChainStart(_serialized: Serialized, _inputs: ChainValues, _runId: string, parentRunId?: string): void {
    if (parentRunId === undefined) this.roots++;
  }
}

class Audit extends AsyncCallbackHandler {
  override async handleLLMEnd(output: LLMResult): Promise<void> {
    const text: string | undefined = output.generations[0]?.[0]?.text;
    await Promise.resolve(text);
  }
}

const weather = tool(async ({ city, days }) => \`\${city.toUpperCase()} for \${days.toFixed(0)} days\`, {
  name: 'weather',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string(), days: z.number().int() }),
});

const config: RunnableConfig = {
  callbacks: [new RootCounter(), new Audit(), new ConsoleTracer({ colors: false, maxLength: 40 }), new JsonlTracer('runs.jsonl')],
  tags: ['consumer'],
  metadata: { strict: true },
  runName: 'forecast',
};

export const forecast: Promise<string> = weather.invoke({ city: 'Lisbon', days: 3 }, config);
// @ts-expect-error \`days\` is a number in the schema, so a string is rejected
export const wrongType = weather.invoke({ city: 'Lisbon', days: 'three' }, config);
// @ts-expect-error \`city\` is required by the schema
export const missing = weather.invoke({ days: 3 });

const double = RunnableLambda.from((x: number) => x * 2, { name: 'double' });
export const doubled: Promise<number> = double.invoke(2, config);
// @ts-expect-error the lambda takes a number
export const notANumber = double.invoke('2');

// With noUncheckedIndexedAccess an index may be undefined.
export const first: CollectedRun | undefined = new RunCollector().runs[0];
export const lineType: JsonlRunRecord['type'] = 'tool';
`;

// ...and from a CommonJS module (\`require\`).
const TYPES_CJS = `import callscope = require('callscope');

const config: callscope.RunnableConfig = { tags: ['cjs'], callbacks: [new callscope.RunCollector()] };
const length = callscope.RunnableLambda.from((text: string) => text.length, { name: 'length' });
const result: Promise<number> = length.invoke('abc', config);
// @ts-expect-error the lambda takes a string
const wrong = length.invoke(42);
export = { result, wrong };
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2022'],
    types: ['node'],
    noEmit: true,
    // Check callscope's own declarations too, not only the code that uses them.
    skipLibCheck: false,
  },
  files: ['types-esm.ts', 'types-cjs.cts'],
};

// The README's LangChain snippets, in a project with @langchain/core installed. The README's chat model is
// `ChatAnthropic` from @langchain/anthropic; LangChain's own FakeListChatModel (the same BaseChatModel type)
// stands in for it, so the project needs no other package.
const LANGCHAIN_SNIPPETS = `
import { FakeListChatModel as ChatAnthropic } from '@langchain/core/utils/testing';
import { RunnableLambda as LCRunnableLambda, RunnableSequence as LCRunnableSequence, type Runnable as LCRunnable } from '@langchain/core/runnables';
import { ConsoleTracer, RunCollector, RunnableLambda } from 'callscope';
import { fromLangChain, toLangChain } from 'callscope/langchain';

const model = fromLangChain(new ChatAnthropic({ responses: ['Rayleigh scattering'] }));
const answer = RunnableLambda.from(async (question: string) => (await model.invoke(question)).content, { name: 'answer' });
await answer.invoke('Why is the sky blue?', { callbacks: [new ConsoleTracer()] });

const summarize = RunnableLambda.from(async (text: string) => text.slice(0, 20), { name: 'summarize' });
const lcStep = LCRunnableLambda.from(async (input: string, config) => summarize.invoke(input, config));
// callscope's handlers go into a LangChain call's callbacks without a cast.
await lcStep.invoke('a long text', { callbacks: [new RunCollector(), new ConsoleTracer()] });

// toLangChain() is typed as LangChain's Runnable.
const piped: LCRunnable<string, string> = toLangChain(summarize);
const chain = LCRunnableSequence.from([piped, LCRunnableLambda.from((text: string) => text + '!')]);
export const out: Promise<string> = chain.invoke('x');
`;

interface ScenarioResult {
  entry: string;
  afterImport: { clsLoaded: boolean; hooks: number };
  defaultMode: unknown;
  afterRuns: { clsLoaded: boolean; hooks: number };
  clsHookedMode: unknown;
  afterClsHooked: { clsLoaded: boolean; hooks: number };
  lost: { name: string; code: string; callSite: string } | undefined;
}

describe('the packed package, installed in a fresh project', () => {
  let work: string;
  let project: string;
  let tarball: string;
  let packed: readonly PackedFile[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'callscope-consumer-'));
    project = join(work, 'project');
    mkdirSync(project);

    run(npm, ['run', 'build'], root);
    // The build just ran: skip `prepack`, which would build again.
    const [pack] = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)) as {
      filename: string;
      files: PackedFile[];
    }[];
    if (pack === undefined) throw new Error('npm pack reported no package');
    tarball = join(work, pack.filename);
    packed = pack.files;

    const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    run(
      npm,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        tarball,
        `zod@${rootPackage.dependencies.zod ?? 'latest'}`,
        `typescript@${versionIn('typescript')}`,
        `@types/node@${versionIn('@types/node')}`,
      ],
      project,
    );
    writeFileSync(join(project, 'probe.cjs'), PROBE);
    writeFileSync(join(project, 'esm.mjs'), ESM);
    writeFileSync(join(project, 'cjs.cjs'), CJS);
    writeFileSync(join(project, 'types-esm.ts'), TYPES_ESM);
    writeFileSync(join(project, 'types-cjs.cts'), TYPES_CJS);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  });

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('ships only dist/, the README and package.json', () => {
    const paths = packed.map((file) => file.path).sort();
    expect(paths.filter((path) => !path.startsWith('dist/'))).toEqual(['README.md', 'package.json']);
    for (const entry of ['index', 'opentelemetry', 'anthropic', 'langchain', 'openai', 'http', 'express', 'fastify', 'hono', 'viewer']) {
      expect(paths).toEqual(
        expect.arrayContaining([`dist/${entry}.cjs`, `dist/${entry}.d.mts`, `dist/${entry}.d.ts`, `dist/${entry}.mjs`]),
      );
    }
  });

  it('passes publint', () => {
    const report = run(process.execPath, [join(root, 'node_modules', 'publint', 'src', 'cli.js'), 'run', tarball, '--strict'], work);
    expect(report).not.toMatch(/Errors:|Warnings:/);
  });

  it('loads one copy of callscope for import and require alike, so runs link across both', () => {
    writeFileSync(
      join(project, 'both.mjs'),
      `import { createRequire } from 'node:module';
import { RunCollector, RunnableLambda } from 'callscope';
const required = createRequire(import.meta.url)('callscope');
const leaf = required.RunnableLambda.from((x) => x, { name: 'leaf' });
const collector = new RunCollector();
await RunnableLambda.from((x) => leaf.invoke(x), { name: 'top' }).invoke(1, { callbacks: [collector] });
console.log(JSON.stringify({ sameClass: RunnableLambda === required.RunnableLambda, names: collector.allRuns().map((run) => run.name) }));
`,
    );
    expect(JSON.parse(run(process.execPath, ['both.mjs'], project))).toEqual({ sameClass: true, names: ['top', 'leaf'] });
  });

  it('loads one copy of the core for every entry point, under import and require alike', () => {
    // The integrations' optional peers are not installed: importing their entry points must still work,
    // since each peer loads only when a feature first needs it.
    writeFileSync(
      join(project, 'entries.mjs'),
      `import { createRequire } from 'node:module';
import { BaseChatModel, RunCollector, RunnableLambda, Runnable } from 'callscope';
import { ChatAnthropic, wrapAnthropic } from 'callscope/anthropic';
import { wrapOpenAI } from 'callscope/openai';
import { OpenTelemetryTracer, injectRunContext } from 'callscope/opentelemetry';
import { LangChainRunnable } from 'callscope/langchain';
const require = createRequire(import.meta.url);
const core = require('callscope');
const model = new ChatAnthropic({ model: 'm', maxTokens: 1 });
const required = {
  anthropic: require('callscope/anthropic').ChatAnthropic === ChatAnthropic && require('callscope/anthropic').wrapAnthropic === wrapAnthropic,
  openai: require('callscope/openai').wrapOpenAI === wrapOpenAI,
  opentelemetry: require('callscope/opentelemetry').OpenTelemetryTracer === OpenTelemetryTracer,
  langchain: require('callscope/langchain').LangChainRunnable === LangChainRunnable,
};
// The run id a tool would send on: read from the run active in the core's context by the integration.
const headers = await RunnableLambda.from(() => injectRunContext({}), { name: 'caller' }).invoke(1, { callbacks: [new RunCollector()] });
console.log(JSON.stringify({
  modelIsCoreModel: model instanceof BaseChatModel && model instanceof core.Runnable && model instanceof Runnable,
  required,
  runIdSeenByIntegration: /callscope\\.run_id=/.test(String(headers.baggage)),
}));
`,
    );
    expect(JSON.parse(run(process.execPath, ['entries.mjs'], project))).toEqual({
      modelIsCoreModel: true,
      required: { anthropic: true, openai: true, opentelemetry: true, langchain: true },
      runIdSeenByIntegration: true,
    });
  });

  it('loads the tracers, traceable() and streamEvents on first use under require(), from the same core as every entry point', () => {
    writeFileSync(
      join(project, 'lazy.cjs'),
      `const { readFileSync } = require('node:fs');
const loaded = () => Object.keys(require.cache).filter((file) => file.includes('/callscope/dist/'));
const defines = (files, pattern) => files.filter((file) => pattern.test(readFileSync(file, 'utf8'))).length > 0;
const core = require('callscope');
const atImport = loaded();
const { OpenTelemetryTracer } = require('callscope/opentelemetry');
const traceable = core.traceable;
const collector = new core.RunCollector();
const step = traceable(async (x) => x + 1, { name: 'step' });
const top = core.RunnableLambda.from((x) => step(x), { name: 'top' });
top.invoke(1, { callbacks: [collector] }).then(async (output) => {
  const events = [];
  for await (const event of top.streamEvents(1, { version: 'v2' })) events.push(event.event + ':' + event.name);
  console.log(JSON.stringify({
    lazyCodeAtImport: defines(atImport, /(ConsoleTracer|JsonlTracer|RunCollector) = class\\b|function (traceable|streamEventsOf)\\(/),
    lazyFilesAtImport: atImport.filter((file) => /lazy-/.test(file)).length,
    lazyFilesAfterUse: loaded().filter((file) => /lazy-/.test(file)).length,
    namesListed: ['ConsoleTracer', 'JsonlTracer', 'RunCollector', 'RunTracer', 'traceable'].every((name) => Object.keys(core).includes(name)),
    sameRunTracer: Object.getPrototypeOf(OpenTelemetryTracer) === core.RunTracer && core.RunTracer === require('callscope').RunTracer,
    output,
    runs: collector.allRuns().map((run) => run.name),
    events,
  }));
});
`,
    );
    expect(JSON.parse(run(process.execPath, ['lazy.cjs'], project))).toEqual({
      lazyCodeAtImport: false,
      lazyFilesAtImport: 0,
      lazyFilesAfterUse: 3,
      namesListed: true,
      sameRunTracer: true,
      output: 2,
      runs: ['top', 'step'],
      events: ['on_chain_start:top', 'on_chain_start:step', 'on_chain_end:step', 'on_chain_stream:top', 'on_chain_end:top'],
    });
  });

  it('writes the trace viewer page with `npx callscope view`, from a JSONL file of real runs', () => {
    writeFileSync(
      join(project, 'write-runs.mjs'),
      `import { JsonlTracer, RunnableLambda } from 'callscope';
const tracer = new JsonlTracer('runs.jsonl');
const leaf = RunnableLambda.from((x) => x + 1, { name: 'leaf' });
const fail = RunnableLambda.from(() => { throw new Error('boom'); }, { name: 'fail' });
await RunnableLambda.from(async (x) => fail.invoke(await leaf.invoke(x)), { name: 'top' }).invoke(1, { callbacks: [tracer] }).catch(() => undefined);
await tracer.close();
`,
    );
    run(process.execPath, ['write-runs.mjs'], project);
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    // --no-install: the bin of the installed package, never a download.
    const printed = run(npx, ['--no-install', 'callscope', 'view', 'runs.jsonl', '--out', 'trace.html'], project);
    expect(printed.trim()).toBe('Wrote trace.html: 3 runs (2 failed).');
    const html = readFileSync(join(project, 'trace.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<script id="callscope-runs" type="application/octet-stream">');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  it('loads callscope/viewer on the same core: its errors are the core\'s ConfigError, its handler runs in core runs', () => {
    writeFileSync(
      join(project, 'viewer.cjs'),
      `const { ConfigError, RunnableLambda } = require('callscope');
const { LiveViewer } = require('callscope/viewer');
(async () => {
  let refused;
  try { new LiveViewer({ prot: 1 }); } catch (error) { refused = error instanceof ConfigError && error.field; }
  const viewer = new LiveViewer({ port: 0 });
  await viewer.ready;
  await RunnableLambda.from((x) => x, { name: 'seen' }).invoke(1, { callbacks: [viewer] });
  const page = await fetch(viewer.url).then((response) => response.text());
  // The first server-sent event, the snapshot a page gets when it connects, holds the run.
  const events = await fetch(new URL('events', viewer.url));
  const reader = events.body.getReader();
  let snapshot = '';
  while (!snapshot.includes('\\n\\n')) snapshot += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  await viewer.close();
  console.log(JSON.stringify({
    refused,
    url: /^http:\\/\\/127\\.0\\.0\\.1:\\d+\\/$/.test(viewer.url),
    page: page.startsWith('<!doctype html>'),
    seen: snapshot.startsWith('event: snapshot') && snapshot.includes('"name":"seen"'),
  }));
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
    );
    expect(JSON.parse(run(process.execPath, ['viewer.cjs'], project))).toEqual({ refused: 'prot', url: true, page: true, seen: true });
  });

  it('bundles for Workers and browsers (the `browser` condition) with callscope/http, callscope/hono and callscope/openai on one copy of the core, no node: module reachable', () => {
    writeFileSync(
      join(project, 'worker.mjs'),
      `import { RunnableLambda, getConfiguration } from 'callscope';
import { withRunScopeFetch } from 'callscope/http';
import { runScope } from 'callscope/hono';
import { wrapOpenAI } from 'callscope/openai';
const inner = RunnableLambda.from((x) => x, { name: 'inner' });
export default { fetch: withRunScopeFetch(async () => new Response(String(await inner.invoke(getConfiguration().propagation)))), runScope, wrapOpenAI };
`,
    );
    // As Cloudflare's wrangler resolves packages for a Worker; a browser bundler uses 'browser' alone.
    const result = buildSync({
      entryPoints: [join(project, 'worker.mjs')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'],
      target: 'es2022',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).map((file) => file.replace(/^.*node_modules\/callscope\//, 'callscope/'));
    const bundled = inputs.filter((file) => file.startsWith('callscope/')).sort();
    // The browser build only: no CommonJS file of the Node build, whose core would be a second copy.
    expect(bundled.length).toBeGreaterThan(4);
    expect(bundled.filter((file) => !/^callscope\/dist\/browser(-[\w-]+)?\.mjs$/.test(file))).toEqual([]);
    expect(bundled).toEqual(expect.arrayContaining(['callscope/dist/browser.mjs', 'callscope/dist/browser-http.mjs', 'callscope/dist/browser-hono.mjs', 'callscope/dist/browser-openai.mjs']));
    const code = result.outputFiles[0]?.text ?? '';
    // esbuild writes a class as `var Name = class`, renamed `Name2` for a second one: one copy of the core, one RunScope.
    expect(code.match(/\bRunScope\d* = class\b/g)).toHaveLength(1);
    expect(code).not.toMatch(/\bfrom ["']node:|require\(["'](node:)?(async_hooks|module|path|util)["']\)/);
  });

  it('installs without the optional peer dependencies', () => {
    for (const peer of ['@langchain/core', '@opentelemetry/api', '@anthropic-ai/sdk', 'openai']) {
      expect(existsSync(join(project, 'node_modules', ...peer.split('/')))).toBe(false);
    }
  });

  describe.each([
    ['an ES module, with import', 'esm.mjs', 'index.mjs'],
    ['a CommonJS module, with require', 'cjs.cjs', 'index.cjs'],
  ])('from %s', (_kind, file, entryFile) => {
    let result: ScenarioResult;
    beforeAll(() => {
      result = JSON.parse(run(process.execPath, [file], project)) as ScenarioResult;
    });

    it(`loads dist/${entryFile}`, () => {
      expect(result.entry).toBe(join(project, 'node_modules', 'callscope', 'dist', entryFile));
    });

    it('runs a nested pipeline and reports the linked tree to every tracer, in every propagation mode', () => {
      const expected = {
        output: 'PACK FOR: SUNNY',
        tree: {
          name: 'chain trip',
          linked: true,
          children: [
            {
              name: 'chain plan',
              linked: true,
              children: [
                { name: 'tool weather', linked: true, children: [{ name: 'llm FakeChatModel', linked: true, children: [] }] },
              ],
            },
            { name: 'chain RunnableLambda', linked: true, children: [] },
          ],
        },
        printed: 'chain trip  in: "Lisbon"  out: "PACK FOR: SUNNY"',
        jsonlLines: ['FakeChatModel', 'weather', 'plan', 'RunnableLambda', 'trip'],
      };
      expect(result.defaultMode).toEqual(expected);
      expect(result.clsHookedMode).toEqual(expected);
    });

    it('neither loads cls-hooked nor installs an async hook at import or in the default mode', () => {
      expect(result.afterImport).toEqual({ clsLoaded: false, hooks: 0 });
      expect(result.afterRuns).toEqual({ clsLoaded: false, hooks: 0 });
    });

    it("loads cls-hooked on the switch to 'cls-hooked'", () => {
      expect(result.afterClsHooked.clsLoaded).toBe(true);
      expect(result.afterClsHooked.hooks).toBeGreaterThan(0);
    });

    it("points lost-callback diagnostics at the caller's file", () => {
      expect(result.lost).toEqual({ name: 'LostCallbacksError', code: 'LOST_CALLBACKS', callSite: join(project, file) });
    });
  });

  it('type-checks code using the public types under strict, noUncheckedIndexedAccess and module nodenext', () => {
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(() => run(process.execPath, [tsc, '-p', 'tsconfig.json'], project)).not.toThrow();
  });

  it("type-checks the README's LangChain snippets in a project that has @langchain/core installed", () => {
    const withLangChain = join(work, 'project-langchain');
    mkdirSync(withLangChain);
    writeFileSync(join(withLangChain, 'package.json'), JSON.stringify({ name: 'consumer-langchain', private: true, type: 'module' }, null, 2));
    run(
      npm,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        tarball,
        `@langchain/core@${versionIn('@langchain/core')}`,
        `typescript@${versionIn('typescript')}`,
        `@types/node@${versionIn('@types/node')}`,
      ],
      withLangChain,
    );
    writeFileSync(join(withLangChain, 'langchain.ts'), LANGCHAIN_SNIPPETS);
    writeFileSync(
      join(withLangChain, 'tsconfig.json'),
      JSON.stringify({ ...TSCONFIG, compilerOptions: { ...TSCONFIG.compilerOptions, skipLibCheck: true }, files: ['langchain.ts'] }, null, 2),
    );
    const tsc = join(withLangChain, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(() => run(process.execPath, [tsc, '-p', 'tsconfig.json'], withLangChain)).not.toThrow();
  });
});
