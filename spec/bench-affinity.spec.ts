import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { lastCpu, pinThisProcess } from '../bench/harness/affinity';
import { placeOnCpus } from '../bench/scenarios/http';

// Where the benchmark suite runs its timed work. Pinning changes this (jest worker) process's CPUs for the
// length of a test; each test puts them back. Pinning needs Linux and two CPUs or more (and taskset).
const canPin = process.platform === 'linux' && availableParallelism() >= 2;
const cpus = availableParallelism();

/** The CPUs the main thread may run on now, as taskset lists them. */
function affinity(): string {
  return execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }).trim().split(': ').pop() ?? '';
}

describe(`bench CPU placement (${canPin ? 'this machine can pin' : 'this machine cannot pin'})`, () => {
  it('names the last CPU, also while this process is pinned to another, and restores the CPUs it had', () => {
    if (!canPin) {
      expect(pinThisProcess(0, 'main')).toMatchObject({ cpus: undefined, why: expect.stringMatching(/not Linux|one CPU/) as unknown });
      return;
    }
    const before = affinity();
    const pinned = pinThisProcess(0, 'main');
    try {
      expect(pinned.cpus).toBe('0');
      expect(affinity()).toBe('0');
      expect(lastCpu()).toBe(cpus - 1);
    } finally {
      pinned.restore();
    }
    expect(affinity()).toBe(before);
  });

  it('puts the http servers on the last CPU, away from the client pinned to CPU 0, and restores the client', () => {
    if (!canPin) {
      expect(placeOnCpus()).toMatchObject({ serverCpu: undefined, note: expect.stringContaining('not pinned') as unknown });
      return;
    }
    const before = affinity();
    const placement = placeOnCpus();
    try {
      expect(affinity()).toBe('0');
      expect(placement.serverCpu).toBe(cpus - 1);
      expect(placement.note).toContain(`pinned to CPU 0 and every server process to CPU ${cpus - 1}`);
    } finally {
      placement.restore();
    }
    expect(affinity()).toBe(before);
  });
});
