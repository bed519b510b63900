#!/usr/bin/env node
/**
 * Runs the runtime suite (spec/runtimes/suite.mjs) against the built package (`npm run build` first) in
 * other runtimes, each installed from npm by .ci/run into .cache/runtimes/<name>:
 *
 *   node spec/runtimes/run.mjs [bun] [deno] [workerd-als] [workerd] [chromium] [--record]
 *
 * - bun, deno: the runtime runs spec/runtimes/entry.mjs, which imports dist/index.mjs.
 * - workerd-als, workerd: the suite is bundled into a Worker as Cloudflare's bundler would (the package's
 *   `browser` condition) and served by workerd on 127.0.0.1, with the `nodejs_als` compatibility flag and
 *   with no flag at all.
 * - chromium: the same bundle for a page, served on 127.0.0.1 and run in headless Chromium (Debian's
 *   /usr/bin/chromium) through playwright-core.
 *
 * Prints each test, then one `<runtime>: N passed, N failed` line per runtime, and exits non-zero if any
 * test failed or a runtime could not be run (a missing runtime is a failure, never a skip). `--record`
 * writes what was observed at the boundaries into spec/runtimes/expected.json (`npm run boundaries`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const cache = path.join(root, '.cache/runtimes');
export const RUNTIMES = ['bun', 'deno', 'workerd-als', 'workerd', 'chromium'];
const EXPECTED_FILE = path.join(here, 'expected.json');
const CHROMIUM = '/usr/bin/chromium';

/** The lines of an example's trailing `// Prints:` block (as spec/examples.spec.ts reads them). */
function printsOf(file) {
  const lines = readFileSync(path.join(root, file), 'utf8').trimEnd().split('\n');
  return lines.slice(lines.lastIndexOf('// Prints:') + 1).map((line) => line.slice(3).trimEnd());
}

function suiteInput(runtime, expected) {
  const bug = printsOf('examples/propagation-bug.ts');
  const start = bug.indexOf("The fixed pipeline in 'explicit' mode, as ConsoleTracer prints it:") + 1;
  return {
    expected: expected.runtimes[runtime],
    node: { seed: printsOf('examples/async-callbacks.ts'), explicitTree: bug.slice(start, bug.indexOf('', start)) },
  };
}

function binary(name, bin) {
  const file = path.join(cache, name, 'node_modules/.bin', bin);
  if (!existsSync(file)) throw new Error(`${bin} is not installed at ${file}: .ci/run installs it (npm package \`${name}\`)`);
  return file;
}

/** Runs a command to its end; resolves with its output, rejects if it fails. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${path.basename(command)} exited with ${code}: ${stderr.slice(-2000)}`))));
  });
}

async function inProcessRuntime(runtime, input, work) {
  const inputFile = path.join(work, 'input.json');
  writeFileSync(inputFile, JSON.stringify(input));
  const entry = path.join(here, 'entry.mjs');
  const stdout =
    runtime === 'bun'
      ? await run(binary('bun', 'bun'), [entry, inputFile])
      : await run(binary('deno', 'deno'), ['run', '--allow-all', '--quiet', entry, inputFile], {
          // A cache of its own for each run: Deno's shared cache (~/.cache/deno) kept its analysis of a CommonJS
          // file at the same path from an earlier build, and then required a chunk that build had and this one
          // has not ("Cannot find module './chunk-….cjs'").
          env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: path.join(work, 'deno-cache') },
        });
  const line = stdout.split('\n').find((text) => text.startsWith('CALLSCOPE_SUITE_RESULT '));
  if (line === undefined) throw new Error(`${runtime} printed no result: ${stdout.slice(-2000)}`);
  return JSON.parse(line.slice('CALLSCOPE_SUITE_RESULT '.length));
}

/** Bundles an entry the way a bundler for browsers and Workers would resolve `callscope` (its `browser` condition). */
async function bundle(entry, outfile, conditions, work) {
  const { build } = await import('esbuild');
  // `callscope` resolves as an installed package would: through a node_modules folder linking to this repo.
  const modules = path.join(work, 'node_modules');
  mkdirSync(modules, { recursive: true });
  symlinkSync(root, path.join(modules, 'callscope'), 'dir');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions,
    target: 'es2022',
    nodePaths: [modules],
    // node: modules are probed at run time (a boundary is 'n/a' where the runtime lacks them).
    external: ['node:*'],
    logLevel: 'error',
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port; rejects if `exited` settles first. */
async function listening(port, exited) {
  for (let attempt = 0; attempt < 600; attempt++) {
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after 30 s`);
}

async function workerdRuntime(runtime, input, work) {
  const workerd = binary('workerd', 'workerd');
  await bundle(path.join(here, 'worker-entry.mjs'), path.join(work, 'worker.mjs'), ['workerd', 'worker', 'browser'], work);
  const flags = runtime === 'workerd-als' ? '"nodejs_als"' : '';
  writeFileSync(
    path.join(work, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .suite)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
const suite :Workerd.Worker = (
  modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
  compatibilityDate = "2025-01-01",
  compatibilityFlags = [${flags}],
);
`,
  );
  const port = await freePort();
  const child = spawn(workerd, ['serve', path.join(work, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk) => (log += chunk));
  child.stderr.on('data', (chunk) => (log += chunk));
  const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`workerd exited with ${code}: ${log.slice(-2000)}`))));
  exited.catch(() => undefined);
  try {
    await listening(port, exited);
    const response = await Promise.race([
      fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify(input) }).catch((error) => {
        // The connection broke (the Worker crashed, or workerd dropped the request): what workerd logged says why.
        throw new Error(`${error instanceof Error ? error.message : String(error)}${error?.cause ? ` (${String(error.cause)})` : ''}; workerd logged: ${log.slice(-2000) || 'nothing'}`);
      }),
      exited,
    ]);
    const text = await response.text();
    if (!response.ok) throw new Error(`the Worker answered ${response.status}: ${text.slice(0, 2000)} ${log.slice(-2000)}`);
    return JSON.parse(text);
  } finally {
    const closed = new Promise((resolve) => child.once('close', resolve));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await closed;
  }
}

async function chromiumRuntime(input, work) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`);
  await bundle(path.join(here, 'browser-entry.mjs'), path.join(work, 'suite.mjs'), ['browser'], work);
  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>callscope runtime suite</title><script type="module" src="/suite.mjs"></script>'],
    '/suite.mjs': ['text/javascript', readFileSync(path.join(work, 'suite.mjs'))],
  };
  const server = createServer((request, response) => {
    const file = files[request.url];
    response.writeHead(file ? 200 : 404, { 'content-type': file ? file[0] : 'text/plain' });
    response.end(file ? file[1] : 'not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = await import('playwright-core');
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'callscope-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => typeof globalThis.runCallscopeSuite === 'function', undefined, { timeout: 30_000 }).catch(() => {
      throw new Error(`the page did not load the suite: ${errors.join('; ')}`);
    });
    return await page.evaluate((suiteInputValue) => globalThis.runCallscopeSuite(suiteInputValue), input);
  } finally {
    await context.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

async function runRuntime(runtime, expected) {
  const input = suiteInput(runtime, expected);
  const work = mkdtempSync(path.join(tmpdir(), `callscope-${runtime}-`));
  try {
    if (runtime === 'bun' || runtime === 'deno') return await inProcessRuntime(runtime, input, work);
    if (runtime === 'chromium') return await chromiumRuntime(input, work);
    return await workerdRuntime(runtime, input, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  const args = process.argv.slice(2);
  const record = args.includes('--record');
  const chosen = args.filter((arg) => !arg.startsWith('--'));
  const unknown = chosen.filter((name) => !RUNTIMES.includes(name));
  if (unknown.length > 0) throw new Error(`unknown runtime ${unknown.join(', ')}; expected some of ${RUNTIMES.join(', ')}`);
  if (!existsSync(path.join(root, 'dist/index.mjs')) || !existsSync(path.join(root, 'dist/browser.mjs'))) {
    throw new Error('dist/ is not built: run `npm run build` first');
  }
  const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8'));
  let failedAny = false;
  const summary = [];
  for (const runtime of chosen.length > 0 ? chosen : RUNTIMES) {
    let passed = 0;
    let failed = 0;
    try {
      const result = await runRuntime(runtime, expected);
      for (const test of result.results) {
        if (test.ok) passed++;
        else failed++;
        console.log(`${test.ok ? '  ✓' : '  ✗'} ${runtime}: ${test.name}${test.ok ? '' : `\n      ${test.error}`}`);
      }
      if (record) {
        expected.runtimes[runtime] = { ...expected.runtimes[runtime], propagation: result.propagation, boundaries: result.boundaries };
      }
    } catch (error) {
      failed++;
      console.log(`  ✗ ${runtime}: could not run the suite\n      ${error instanceof Error ? error.message : String(error)}`);
    }
    failedAny ||= failed > 0;
    summary.push(`${runtime}: ${passed} passed, ${failed} failed`);
  }
  if (record) writeFileSync(EXPECTED_FILE, `${JSON.stringify(expected, null, 2)}\n`);
  for (const line of summary) console.log(line);
  process.exitCode = failedAny ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
