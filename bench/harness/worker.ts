import { spawn } from 'node:child_process';
import path from 'node:path';

/** The repository root: child processes run there so `require('./lib')` and node_modules resolve. */
export const ROOT = path.resolve(__dirname, '../..');

// A worker prints its result as one line starting with this marker; anything else it prints is passed
// through, so a worker's own diagnostics stay visible.
const RESULT_MARKER = 'BENCH_RESULT ';

/** Options of {@link runNode}. */
export interface RunNodeOptions {
  /** Arguments of `node`, flags and script included. */
  readonly args: readonly string[];
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** What a child process printed. */
export interface NodeOutcome {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node` with `args` in a fresh process, in the repository root.
 *
 * @throws {Error} with the child's stderr when it exits with a non-zero code or a signal.
 */
export function runNode({ args, env = {} }: RunNodeOptions): Promise<NodeOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`node ${args.join(' ')} exited with ${signal ?? `code ${code}`}:\n${stderr}`));
    });
  });
}

/**
 * Runs a worker script of `bench/workers/` (TypeScript, through tsx) in a fresh process and returns the
 * result it reported with {@link reportToParent}.
 *
 * @param name - the worker's file name without extension, such as `concurrent`.
 * @param input - JSON-serializable parameters, read by the worker with {@link workerInput}.
 * @param nodeFlags - flags for node itself, such as `--expose-gc`.
 * @throws {Error} when the worker fails or reports nothing.
 */
export async function runWorker<TResult>(name: string, input: unknown, nodeFlags: readonly string[] = []): Promise<TResult> {
  const script = path.join(ROOT, 'bench', 'workers', `${name}.ts`);
  const { stdout, stderr } = await runNode({ args: [...nodeFlags, '--import', 'tsx', script, JSON.stringify(input)] });
  const lines = stdout.split('\n');
  const resultLine = lines.find((line) => line.startsWith(RESULT_MARKER));
  const passthrough = lines.filter((line) => line !== '' && !line.startsWith(RESULT_MARKER));
  if (passthrough.length > 0) process.stdout.write(passthrough.map((line) => `  [${name}] ${line}\n`).join(''));
  if (stderr.trim() !== '') process.stderr.write(`  [${name}] ${stderr.trim()}\n`);
  if (resultLine === undefined) throw new Error(`Worker ${name} reported no result. Its output:\n${stdout}\n${stderr}`);
  return JSON.parse(resultLine.slice(RESULT_MARKER.length)) as TResult;
}

/** In a worker: the parameters its parent passed to {@link runWorker}. */
export function workerInput<TInput>(): TInput {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('This script is a benchmark worker: run it through `npm run bench`.');
  return JSON.parse(raw) as TInput;
}

/** In a worker: sends `result` to the parent (see {@link runWorker}). */
export function reportToParent(result: unknown): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/**
 * In a worker: runs `main`, reports its result, and exits non-zero with the error if it throws.
 */
export function runAsWorker<TInput>(main: (input: TInput) => Promise<unknown>): void {
  main(workerInput<TInput>()).then(reportToParent, (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
