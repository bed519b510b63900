import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatDuration, median, plural } from '../harness/stats';
import { ROOT, runNode } from '../harness/worker';
import { LANGCHAIN_LABEL } from './shared';
import type { BenchSizes } from '../settings';

/** The budget: importing the root entry point costs at most this much over bare Node (Node 24). */
const BUDGET_MS = 15;

/** Packages the root entry point must not load at import: zod, cls-hooked and every optional peer. */
const DEFERRED_PACKAGES = ['zod', 'cls-hooked', 'uuid', '@langchain/core', '@opentelemetry/api', '@anthropic-ai/sdk', 'openai', 'express', 'fastify', 'hono'];

interface Timing {
  /** Spawn to exit, seen from the bench process. */
  readonly wallMs: number;
  /** `require()` alone, timed inside the child (0 for bare Node). */
  readonly requireMs: number;
}

interface Proof {
  readonly mode: string;
  readonly events: number;
  /** Deferred packages with a file in require.cache after the import, after a nested run, after the controls. */
  readonly afterImport: readonly string[];
  readonly afterRun: readonly string[];
  readonly afterControls: readonly string[];
}

// Plain CommonJS for `node -e`: times the require inside the child and prints it; bare Node runs the same
// script with nothing to require, so the two differ only by the import.
// With `asModule`, an ES module that imports the entry instead (the ESM entry's file URL).
function timingScript(entry: string | undefined, asModule: boolean): string {
  const load = entry === undefined ? '' : asModule ? `await import(${JSON.stringify(entry)});` : `require(${JSON.stringify(entry)});`;
  return `const started = process.hrtime.bigint(); ${load} console.log(Number(process.hrtime.bigint() - started) / 1e6);`;
}

function timeProcess(entry: string | undefined, asModule = false): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const args = asModule ? ['--input-type=module', '-e', timingScript(entry, true)] : ['-e', timingScript(entry, false)];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) reject(new Error(`Import of ${entry ?? '(nothing)'} failed with code ${code}:\n${stderr}`));
      else resolve({ wallMs, requireMs: Number(stdout.trim()) });
    });
  });
}

// Which deferred packages have a file in require.cache: the check looks for the package's directory (callscope's
// own lib/context/cls-hooked.ts also has "cls-hooked" in its path).
function proofScript(entry: string): string {
  return `
    const path = require('node:path');
    const packages = ${JSON.stringify(DEFERRED_PACKAGES)};
    const loaded = () => packages.filter((name) => {
      const dir = path.sep + 'node_modules' + path.sep + name.split('/').join(path.sep) + path.sep;
      return Object.keys(require.cache).some((file) => file.includes(dir));
    });
    const lib = require(${JSON.stringify(entry)});
    const afterImport = loaded();
    (async () => {
      const leaf = lib.RunnableLambda.from(async (x) => x + 1);
      const top = lib.RunnableLambda.from(async (x) => leaf.invoke(x));
      let events = 0;
      const handler = { handleChainStart() { events++; }, handleChainEnd() { events++; } };
      await top.invoke(1, { callbacks: [handler], tags: ['t'], metadata: { k: 1 } });
      const afterRun = loaded();
      const mode = lib.getConfiguration().propagation;
      // Controls: features that need zod, uuid and cls-hooked load them, so the check would see them.
      new lib.FakeChatModel({ responses: ['ok'] });
      await top.invoke(1, { runId: '0190c2a4-8e4f-7a2b-9c3d-4e5f6a7b8c9d' });
      lib.configure({ propagation: 'cls-hooked' });
      console.log(JSON.stringify({ mode, events, afterImport, afterRun, afterControls: loaded() }));
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
}

async function proveDeferred(entry: string): Promise<Proof> {
  const { stdout } = await runNode({ args: ['-e', proofScript(entry)] });
  const proof = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Proof;
  if (proof.events !== 4) throw new Error(`Import probe of ${entry}: expected 4 events from a nested run, got ${proof.events}.`);
  return proof;
}

/** The built CommonJS entry point (package.json `main`, as `./dist/…`), when a build exists. */
function builtEntry(): string | undefined {
  const { main } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main?: string };
  if (main === undefined || !existsSync(path.join(ROOT, main))) return undefined;
  return main.startsWith('.') ? main : `./${main}`;
}

/**
 * import: the cold-start cost of `require('callscope')` in fresh processes, against bare Node and against
 * `@langchain/core/runnables`, and proof that zod, cls-hooked and the optional peers stay unloaded.
 */
export const importTime: Scenario<BenchSizes> = {
  name: 'import',
  async run(sizes): Promise<ScenarioReport> {
    const built = builtEntry();
    if (built === undefined) throw new Error('The import scenario measures the built package: run `npm run build` first (`npm run bench` does).');
    const esmEntry = built.replace(/\.cjs$/, '.mjs');
    const contenders = [
      { label: 'bare Node (nothing required)', entry: undefined, asModule: false },
      { label: `callscope (require('${built}'))`, entry: built, asModule: false },
      { label: `${LANGCHAIN_LABEL} (require('@langchain/core/runnables'))`, entry: '@langchain/core/runnables', asModule: false },
      // Not a target: an ES module import reads every name at once (see the notes).
      { label: `callscope (import('${esmEntry}'), from an ES module)`, entry: pathToFileURL(path.join(ROOT, esmEntry)).href, asModule: true },
    ];
    const timings: Timing[][] = contenders.map(() => []);
    const order = contenders.map((_, index) => index);
    for (let round = 0; round < sizes.importRounds; round++) {
      // Alternating order: no contender always runs right after another's disk reads.
      for (const index of round % 2 === 0 ? order : [...order].reverse()) timings[index]?.push(await timeProcess(contenders[index]?.entry, contenders[index]?.asModule));
    }
    const wall = timings.map((list) => median(list.map((t) => t.wallMs)));
    const bareWall = wall[0] ?? 0;
    const rows = contenders.map((contender, index) => {
      const list = timings[index] ?? [];
      const wallMs = wall[index] ?? 0;
      return [
        contender.label,
        formatDuration(wallMs),
        index === 0 ? '—' : formatDuration(wallMs - bareWall),
        index === 0 ? '—' : formatDuration(median(list.map((t) => t.requireMs))),
        list.map((t) => formatDuration(t.wallMs)).join(', '),
      ];
    });
    const overBare = (wall[1] ?? 0) - bareWall;
    const requireMs = median((timings[1] ?? []).map((t) => t.requireMs));
    const langchainRequire = median((timings[2] ?? []).map((t) => t.requireMs));

    const proof = await proveDeferred(built);
    const clean = proof.afterImport.length === 0 && proof.afterRun.length === 0 && proof.mode === 'async-local-storage';
    const controlsSeen = ['zod', 'uuid', 'cls-hooked'].every((name) => proof.afterControls.includes(name));
    const major = Number(process.versions.node.split('.')[0]);
    return {
      name: 'import',
      description: `Cold start: fresh Node processes that \`require()\` an entry point and exit, ${plural(sizes.importRounds, 'process', 'processes')} per contender in alternating order. Wall time is spawn to exit seen from the bench process; "over bare Node" subtracts the median of bare Node running the same script with nothing to require; the require column is the \`require()\` call alone, timed inside the child.`,
      tables: [
        { headers: ['contender', 'median wall time', 'over bare Node', 'median require()', 'each process (wall)'], rows },
        {
          caption: 'Deferred packages with a file in require.cache (callscope, default mode)',
          headers: ['after import', 'after a nested run with a handler', 'after the controls (FakeChatModel, a runId, cls-hooked mode)'],
          rows: [[proof.afterImport.join(', ') || 'none', proof.afterRun.join(', ') || 'none', proof.afterControls.join(', ') || 'none']],
        },
      ],
      targets: [
        {
          target: `import: the root entry point costs at most ${BUDGET_MS} ms over bare Node (the issue sets it on Node 24)`,
          observed: `${formatDuration(overBare)} over bare Node on Node ${major} (require() alone ${formatDuration(requireMs)}; @langchain/core/runnables ${formatDuration(langchainRequire)})`,
          pass: overBare <= BUDGET_MS,
        },
        {
          target: 'import: zod, uuid, cls-hooked and the optional peers load only when first needed',
          observed: clean
            ? `none loaded after import and after a nested run${controlsSeen ? '; the controls load zod, uuid and cls-hooked' : '; a control did not load its package'}`
            : `loaded after import: ${proof.afterImport.join(', ') || 'none'}; after a run: ${proof.afterRun.join(', ') || 'none'}`,
          pass: clean && controlsSeen,
        },
      ],
      notes: [
        'The controls prove the check would see a loaded package: FakeChatModel validates its options with zod, a `runId` is checked with uuid, and the cls-hooked mode loads cls-hooked.',
        'Both import paths resolve to the same CommonJS build: the ESM entry re-exports it. `require()` loads the tracers, `traceable()` and `streamEvents` (dist/lazy-*.cjs) when one of their names is first read; an ES module `import` reads every name at once, so it loads them too (the last row; the bare Node row is a CommonJS script, which an ES module script is not).',
      ],
    };
  },
};
