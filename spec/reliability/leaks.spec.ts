import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * After many runs, including failed, aborted and timed-out ones, nothing of them stays behind: no run state
 * (checked with a FinalizationRegistry on the configs bodies received, and heap after forced GC), no timers
 * or listeners, and the process exits by itself. Runs in a fresh process with --expose-gc;
 * LEAK_RUNS scales it (default 100,000).
 */
const runs = Number(process.env.LEAK_RUNS ?? 100_000);

const script = `
  const cs = require('./lib');
  const { getEventListeners } = require('node:events');
  const total = ${runs};
  const finalized = { count: 0 };
  const registry = new FinalizationRegistry(() => { finalized.count++; });
  let tracked = 0;
  const counter = { name: 'counter', n: 0, handleChainStart() { this.n++; }, handleChainEnd() { this.n++; }, handleChainError() { this.n++; } };
  const leaf = cs.RunnableLambda.from(async (x, config) => {
    if (tracked < 1000 && x % 97 === 0) { registry.register(config, x); tracked++; }
    if (x % 5 === 0) throw new Error('fails');
    if (x % 7 === 0) await new Promise((r) => setImmediate(r));
    if (x % 1009 === 0) await new Promise((r) => setTimeout(r, 1));
    return x;
  }, { name: 'leaf' });
  const top = cs.RunnableLambda.from((x) => leaf.invoke(x), { name: 'top' });
  const shared = new AbortController();
  (async () => {
    const heap = () => { global.gc(); global.gc(); return process.memoryUsage().heapUsed; };
    for (let i = 0; i < 2000; i++) await top.invoke(i, { callbacks: [counter] }).catch(() => {});
    const before = heap();
    for (let i = 0; i < total; i++) {
      if (i % 11 === 0) {
        const c = new AbortController();
        const p = top.invoke(i, { callbacks: [counter], signal: c.signal }).catch(() => {});
        c.abort();
        await p;
      } else if (i % 13 === 0) {
        await top.invoke(i, { callbacks: [counter], timeout: 50 }).catch(() => {});
      } else {
        await top.invoke(i, { callbacks: [counter], signal: shared.signal }).catch(() => {});
      }
    }
    await cs.awaitAllCallbacks();
    const after = heap();
    await new Promise((r) => setTimeout(r, 10));
    global.gc();
    await new Promise((r) => setImmediate(r));
    const resources = process.getActiveResourcesInfo().filter((kind) => kind !== 'TTYWrap' && kind !== 'PipeWrap');
    console.log(JSON.stringify({
      heapGrowthBytes: after - before,
      tracked,
      finalized: finalized.count,
      events: counter.n,
      signalListeners: getEventListeners(shared.signal, 'abort').length,
      resources,
    }));
  })();
`;

// Item 9 of issue 10: Node 20's AbortSignal.any leaves an entry on a long-lived source signal for every
// signal combined from it. Runs that inherit a request-long signal and set their own `timeout` (or signal)
// must leave nothing on it. SIGNAL_RUNS scales it (default 100,000; the memory benchmark runs 1,000,000).
const signalRuns = Number(process.env.SIGNAL_RUNS ?? 100_000);

const signalScript = `
  const cs = require('./lib');
  const { getEventListeners } = require('node:events');
  const total = ${signalRuns};
  const counter = { name: 'counter', n: 0, handleChainStart() { this.n++; }, handleChainEnd() { this.n++; } };
  const leaf = cs.RunnableLambda.from((x) => x, { name: 'leaf' });
  const perCall = new AbortController();
  const top = cs.RunnableLambda.from(
    (x) => (x % 2 === 0 ? leaf.invoke(x, { timeout: 60000 }) : leaf.invoke(x, { signal: perCall.signal })),
    { name: 'top' },
  );
  const longLived = new AbortController();
  (async () => {
    const heap = () => { global.gc(); global.gc(); return process.memoryUsage().heapUsed; };
    for (let i = 0; i < 2000; i++) await top.invoke(i, { callbacks: [counter], signal: longLived.signal, timeout: 60000 });
    const before = heap();
    for (let i = 0; i < total; i++) await top.invoke(i, { callbacks: [counter], signal: longLived.signal, timeout: 60000 });
    const after = heap();
    console.log(JSON.stringify({
      heapGrowthBytes: after - before,
      events: counter.n,
      signalListeners: getEventListeners(longLived.signal, 'abort').length + getEventListeners(perCall.signal, 'abort').length,
    }));
  })();
`;

describe('no leaks', () => {
  it(`keeps nothing on a long-lived signal after ${signalRuns.toLocaleString('en')} runs that add their own timeout or signal to it`, () => {
    const child = spawnSync(process.execPath, ['--expose-gc', '-r', 'tsx/cjs', '-e', signalScript], {
      cwd: path.resolve(__dirname, '../..'),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.error).toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as { heapGrowthBytes: number; events: number; signalListeners: number };
    expect(result.events).toBe((signalRuns + 2000) * 4);
    expect(result.heapGrowthBytes).toBeLessThan(2 * 1024 * 1024);
    expect(result.signalListeners).toBe(0);
  }, 150_000);

  it(`retains no run state, timers or listeners after ${runs.toLocaleString('en')} runs, and the process exits by itself`, () => {
    const child = spawnSync(process.execPath, ['--expose-gc', '-r', 'tsx/cjs', '-e', script], {
      cwd: path.resolve(__dirname, '../..'),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.error).toBeUndefined(); // not killed by the timeout: it exited by itself
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as {
      heapGrowthBytes: number;
      tracked: number;
      finalized: number;
      events: number;
      signalListeners: number;
      resources: string[];
    };
    expect(result.events).toBe((runs + 2000) * 4); // two runs of two events each, warm-up included
    expect(result.tracked).toBeGreaterThan(100);
    expect(result.finalized).toBe(result.tracked);
    expect(result.heapGrowthBytes).toBeLessThan(2 * 1024 * 1024);
    expect(result.signalListeners).toBe(0);
    expect(result.resources).toEqual([]);
  }, 150_000);
});
