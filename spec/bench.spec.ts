import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

// The benchmark suite in smoke mode, as CI runs it: every scenario with tiny counts, so the suite cannot
// rot. Only that it runs is asserted: its verifications (every handler got every event) fail the process;
// times are never asserted.
const root = join(__dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const resultsFile = join(root, 'bench', 'RESULTS.md');
const scenarios = ['nested-3', 'no-handler', 'deep-20', 'fan-out', 'parallel', 'tokens', 'traceable', 'stream-events', 'concurrent', 'memory', 'import', 'http', 'viewer-open'];

interface Outcome {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runSmoke(): Promise<Outcome> {
  // From the sources: the smoke run must not depend on a build.
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_SMOKE: '1', CALLSCOPE_BENCH_SOURCE: 'lib' };
  delete env.BENCH_MEMORY_INVOKES;
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['bench/index.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/** The file's content and modification time, or undefined when it does not exist. */
function snapshot(file: string): { content: string; mtimeMs: number } | undefined {
  try {
    return { content: readFileSync(file, 'utf8'), mtimeMs: statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

describe('bench', () => {
  describe('smoke mode (BENCH_SMOKE=1)', () => {
    let outcome: Outcome;
    let resultsBefore: ReturnType<typeof snapshot>;

    beforeAll(async () => {
      resultsBefore = snapshot(resultsFile);
      outcome = await runSmoke();
      // viewer-open starts a headless chromium: more than the other scenarios together on a busy machine.
    }, 120_000);

    it('exits with code 0', () => {
      // Compared together so a failing run shows its stderr.
      expect({ exitCode: outcome.exitCode, stderr: outcome.exitCode === 0 ? '' : outcome.stderr }).toEqual({ exitCode: 0, stderr: '' });
    });

    it.each(scenarios)('runs the %s scenario', (name) => {
      expect(outcome.stdout).toContain(`== ${name} ==`);
    });

    // Where taskset can pin (Linux, two CPUs or more), every scenario timing contenders in the bench process
    // runs on one CPU; elsewhere the reports say it was not pinned. (Smoke runs serve http in-process.)
    const canPin = process.platform === 'linux' && availableParallelism() >= 2;

    it(`${canPin ? 'pins' : 'reports not pinning'} the in-process scenarios to one CPU`, () => {
      const pinnedNotes = outcome.stdout.match(/main thread \(and the workers it started\) was pinned to CPU \d+/g) ?? [];
      const unpinnedNotes = outcome.stdout.match(/The bench process was not pinned to a CPU/g) ?? [];
      // nested-3, no-handler, deep-20, fan-out, parallel, tokens, traceable, stream-events
      expect(canPin ? pinnedNotes.length : unpinnedNotes.length).toBe(8);
    });

    it('does not rewrite bench/RESULTS.md', () => {
      expect(outcome.stdout).toContain('RESULTS.md not written: smoke run');
      expect(snapshot(resultsFile)).toEqual(resultsBefore);
    });
  });
});
