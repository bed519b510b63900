import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

/** Runs `body` in a fresh Node process with callscope's sources loadable; returns what it prints as JSON. */
function inChildProcess(body: string): Record<string, unknown> {
  const script = `
    const asyncHooks = require('node:async_hooks');
    let hooksCreated = 0;
    const createHook = asyncHooks.createHook;
    // Hooks installed by anything but Node's own AsyncLocalStorage: Node 22 implements it with an async hook
    // that its internal module creates, through this public createHook, when the class is first read.
    asyncHooks.createHook = (...args) => {
      if (!/node:internal\\/async_local_storage\\//.test(new Error().stack)) hooksCreated++;
      return createHook(...args);
    };
    const path = require('node:path');
    // The package itself, not callscope's lib/context/cls-hooked.ts backend file.
    const clsPackage = path.sep + 'node_modules' + path.sep + 'cls-hooked' + path.sep;
    const clsLoaded = () => Object.keys(require.cache).some((file) => file.includes(clsPackage));
    (async () => { ${body} })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: root, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`child process failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

describe("cls-hooked is loaded lazily", () => {
  it('is neither loaded nor hooked after importing callscope and running nested runs in the default mode', () => {
    const result = inChildProcess(`
      const { RunnableLambda, RunCollector, getConfiguration } = require('./lib');
      const afterImport = { loaded: clsLoaded(), hooks: hooksCreated };
      const leaf = RunnableLambda.from(async (x) => x + 1, { name: 'leaf' });
      const top = RunnableLambda.from(async (x) => leaf.invoke(x), { name: 'top' });
      const collector = new RunCollector();
      await top.invoke(1, { callbacks: [collector] });
      console.log(JSON.stringify({
        mode: getConfiguration().propagation,
        afterImport,
        afterRun: { loaded: clsLoaded(), hooks: hooksCreated },
        runs: collector.allRuns().length,
      }));
    `);
    expect(result).toEqual({
      mode: 'async-local-storage',
      afterImport: { loaded: false, hooks: 0 },
      afterRun: { loaded: false, hooks: 0 },
      runs: 2,
    });
  });

  it("is loaded, and installs its hook, on the first switch to 'cls-hooked'", () => {
    const result = inChildProcess(`
      const { configure } = require('./lib');
      const before = clsLoaded();
      configure({ propagation: 'cls-hooked' });
      console.log(JSON.stringify({ before, after: clsLoaded(), hooked: hooksCreated > 0 }));
    `);
    expect(result).toEqual({ before: false, after: true, hooked: true });
  });
});
