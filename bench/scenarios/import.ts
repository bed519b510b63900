import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatDuration, median, plural } from '../harness/stats';
import { ROOT, runNode } from '../harness/worker';
import type { BenchSizes } from '../settings';

interface Probe {
  readonly importMs: number;
  readonly modules: number;
  readonly mode: string;
  readonly events: number;
  /** Files of the cls-hooked package in require.cache after the import, after a run, after switching mode. */
  readonly afterImport: number;
  readonly afterRun: number;
  readonly afterSwitch: number;
}

// Plain CommonJS, evaluated by `node -e` in a fresh process. The cls-hooked check looks for the package's
// directory: callscope's own backend file lib/context/cls-hooked.ts also has "cls-hooked" in its path.
function probeScript(entry: string): string {
  return `
    const path = require('node:path');
    const clsPackage = path.sep + 'node_modules' + path.sep + 'cls-hooked' + path.sep;
    const clsFiles = () => Object.keys(require.cache).filter((file) => file.includes(clsPackage)).length;
    const started = process.hrtime.bigint();
    const lib = require(${JSON.stringify(entry)});
    const importMs = Number(process.hrtime.bigint() - started) / 1e6;
    const afterImport = clsFiles();
    const modules = Object.keys(require.cache).length;
    (async () => {
      const leaf = lib.RunnableLambda.from(async (x) => x + 1);
      const top = lib.RunnableLambda.from(async (x) => leaf.invoke(x));
      let events = 0;
      const handler = { handleChainStart() { events++; }, handleChainEnd() { events++; } };
      await top.invoke(1, { callbacks: [handler] });
      const afterRun = clsFiles();
      const mode = lib.getConfiguration().propagation;
      lib.configure({ propagation: 'cls-hooked' });
      console.log(JSON.stringify({ importMs, modules, mode, events, afterImport, afterRun, afterSwitch: clsFiles() }));
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
}

async function probe(nodeArgs: readonly string[], entry: string): Promise<Probe> {
  const { stdout } = await runNode({ args: [...nodeArgs, '-e', probeScript(entry)] });
  const probeResult = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Probe;
  if (probeResult.events !== 4) throw new Error(`Import probe of ${entry}: expected 4 events from a nested run, got ${probeResult.events}.`);
  return probeResult;
}

/** The built CommonJS entry point (package.json `main`, as `./dist/…`), when a build exists. */
function builtEntry(): string | undefined {
  const { main } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main?: string };
  if (main === undefined || !existsSync(path.join(ROOT, main))) return undefined;
  return main.startsWith('.') ? main : `./${main}`;
}

/** import: time to require callscope in a fresh process, and proof that cls-hooked stays unloaded. */
export const importTime: Scenario<BenchSizes> = {
  name: 'import',
  async run(sizes): Promise<ScenarioReport> {
    const entries = [{ label: "require('./lib') via `node -r tsx/cjs` (TypeScript sources)", nodeArgs: ['-r', 'tsx/cjs'], entry: './lib' }];
    const built = builtEntry();
    if (built !== undefined) entries.push({ label: `require('${built}') (built)`, nodeArgs: [], entry: built });
    const rows: string[][] = [];
    const proof: string[][] = [];
    let unloaded = true;
    let controlSeen = true;
    for (const { label, nodeArgs, entry } of entries) {
      const probes: Probe[] = [];
      for (let round = 0; round < sizes.importRounds; round++) probes.push(await probe(nodeArgs, entry));
      const last = probes.at(-1) as Probe;
      rows.push([label, formatDuration(median(probes.map((p) => p.importMs))), probes.map((p) => formatDuration(p.importMs)).join(', '), String(last.modules)]);
      unloaded &&= probes.every((p) => p.afterImport === 0 && p.afterRun === 0 && p.mode === 'async-local-storage');
      controlSeen &&= probes.every((p) => p.afterSwitch > 0);
      proof.push([
        label,
        probes.map((p) => p.afterImport).join(', '),
        probes.map((p) => p.afterRun).join(', '),
        probes.map((p) => p.afterSwitch).join(', '),
      ]);
    }
    return {
      name: 'import',
      description: `Time of \`require()\` of callscope's entry point in a fresh Node process (${plural(sizes.importRounds, 'process', 'processes')} per entry; process start-up excluded), and the number of files under \`node_modules/cls-hooked/\` in \`require.cache\` afterwards.`,
      tables: [
        { headers: ['entry', 'median import time', 'each process', 'modules in require.cache'], rows },
        {
          caption: "Files under node_modules/cls-hooked/ in require.cache (one number per process)",
          headers: ['entry', 'after import', "after a nested run (default mode)", "after configure({ propagation: 'cls-hooked' }) (control)"],
          rows: proof,
        },
      ],
      targets: [
        {
          target: 'import: cls-hooked is not loaded in the default mode',
          observed: unloaded
            ? `0 cls-hooked files after import and after a nested run, in every process${controlSeen ? '; the control loads it' : ''}`
            : 'cls-hooked found in require.cache',
          pass: unloaded && controlSeen,
        },
      ],
      notes: [
        'Through tsx the time includes compiling the TypeScript sources (tsx caches the output on disk, so the first process can be slower); the built row, present when `package.json` `main` exists (after `npm run build`), is what users load.',
        'The control switches to cls-hooked after the measurements and must find the package loaded; it proves the check would see it.',
      ],
    };
  },
};
