import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** This process pinned to CPUs with `taskset`, until {@link Pinning.restore}. */
export interface Pinning {
  /** The CPU list the process runs on now (`'1'`), or `undefined` when it could not be pinned. */
  readonly cpus: string | undefined;
  /** Why it was not pinned, when it was not: for the report. */
  readonly why: string | undefined;
  /** Puts the process back on the CPUs it had (nothing to do when it was not pinned). */
  readonly restore: () => void;
}

// Counted once, at load: `os.availableParallelism()` counts the CPUs the calling thread may run on, which is
// one while this process is pinned (the http scenario once put its servers on the client's CPU that way).
const CPUS_AT_START = os.availableParallelism();

/** The last CPU: the one the suite runs timed work on (Linux usually routes device interrupts to CPU 0). */
export function lastCpu(): number {
  return CPUS_AT_START - 1;
}

/** Which threads of the process {@link pinThisProcess} pins. */
export type PinnedThreads = 'main' | 'all';

/**
 * Pins this process to `cpu` on Linux, with `taskset`: its main thread only (`'main'`: V8's compiler and
 * garbage-collector helpers, started with the process, stay free to run on any CPU, as they would in
 * production), or every thread (`'all'`, `taskset -a`). Threads and child processes started later by a
 * pinned thread inherit its CPU.
 *
 * Left to the scheduler, the main thread moves between CPUs in the middle of a measurement. On this suite's
 * 2-core virtual machine the two CPUs are not alike, and which is slower changes over time: nested-3 took 2.7
 * to 3.1 µs an invoke pinned to CPU 1 and 4.8 to 5.1 µs pinned to CPU 0, and twenty minutes later CPU 1 was
 * the slower one. Unpinned, a run's rounds, and the contenders timed in them, landed on either speed at
 * random. Not pinned where there is one CPU, no `taskset` or no Linux; the result says why.
 */
export function pinThisProcess(cpu: number, threads: PinnedThreads): Pinning {
  const unpinned = (why: string): Pinning => ({ cpus: undefined, why, restore: () => undefined });
  if (process.platform !== 'linux') return unpinned('not Linux');
  if (CPUS_AT_START < 2) return unpinned('one CPU');
  const all = threads === 'all' ? ['-a'] : [];
  let previous: string;
  try {
    // "pid 123's current affinity list: 0,1"
    previous = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }).trim().split(': ').pop() ?? '';
    execFileSync('taskset', [...all, '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    return unpinned('taskset is not available');
  }
  return {
    cpus: String(cpu),
    why: undefined,
    restore: () => execFileSync('taskset', [...all, '-cp', previous, String(process.pid)], { stdio: 'ignore' }),
  };
}
