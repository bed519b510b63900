import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  awaitAllCallbacks,
  BaseCallbackHandler,
  configure,
  ConfigError,
  flushCallbacks,
  RunnableLambda,
} from '../../lib';
import { delay } from '../helpers/trees';
import { InvariantChecker } from '../helpers/invariant';

afterEach(() => configure({ callbacks: 'blocking', maxQueuedEvents: 10_000 }));

const ids = ['0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c001', '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c002', '0190a6b2-7f1c-7cc1-9a64-4b8f5cf0c003'];

/** An async handler whose calls take `ms`, recording events in the order it receives them. */
class SlowRecorder extends BaseCallbackHandler {
  readonly events: string[] = [];
  constructor(
    /** How long each event takes: milliseconds, or a gate the test opens (no timing to race). */
    private readonly ms: number | Promise<void>,
    options: { awaitHandlers?: boolean } = {},
    private readonly onEnd: () => void = () => undefined,
  ) {
    super(options);
  }
  override async handleChainStart(_s: unknown, inputs: { input?: unknown }) {
    await (typeof this.ms === 'number' ? delay(this.ms) : this.ms);
    this.events.push(`start ${String(inputs.input)}`);
  }
  override async handleChainEnd(outputs: { output?: unknown }) {
    await (typeof this.ms === 'number' ? delay(this.ms) : this.ms);
    this.events.push(`end ${String(outputs.output)}`);
    this.onEnd();
  }
}

const echo = RunnableLambda.from((x: number) => x, { name: 'echo' });

describe("background delivery (configure({ callbacks: 'background' }))", () => {
  beforeEach(() => configure({ callbacks: 'background' }));

  it('does not make the run wait for the handler; flushCallbacks(runId) delivers everything, in order', async () => {
    const slow = new SlowRecorder(20);

    await echo.invoke(1, { callbacks: [slow], runId: ids[0] });
    expect(slow.events).toEqual([]);

    await flushCallbacks(ids[0] as string);
    expect(slow.events).toEqual(['start 1', 'end 1']);
  });

  it('gives each handler its own queue: a slow handler never delays another', async () => {
    let openSlow: () => void = () => undefined;
    const slow = new SlowRecorder(new Promise<void>((resolve) => (openSlow = resolve)));
    let fastDone: () => void = () => undefined;
    const fastFinished = new Promise<void>((resolve) => (fastDone = resolve));
    const fast = new SlowRecorder(0, {}, () => fastDone());

    // `slow` comes first and is held until the test opens it: with one shared queue, `fast` would wait behind it.
    await echo.invoke(1, { callbacks: [slow, fast], runId: ids[0] });
    await fastFinished;

    expect(fast.events).toEqual(['start 1', 'end 1']);
    expect(slow.events).toEqual([]);
    openSlow();
    await flushCallbacks(ids[0] as string);
    expect(slow.events).toEqual(['start 1', 'end 1']);
  });

  it("keeps every event, once, in order, per handler, across 200 concurrent runs", async () => {
    const checker = new InvariantChecker();
    const received: string[] = [];
    const counter = { name: 'counter', async handleChainEnd(outputs: { output?: unknown }) { await Promise.resolve(); received.push(String(outputs.output)); } };
    const child = RunnableLambda.from(async (x: number) => { await delay(x % 3); return x; }, { name: 'child' });
    const parent = RunnableLambda.from((x: number) => child.invoke(x), { name: 'parent' });

    await Promise.all(Array.from({ length: 200 }, (_, i) => parent.invoke(i, { callbacks: [checker, counter] })));
    await awaitAllCallbacks();

    expect(checker.violations()).toEqual([]);
    expect(checker.open()).toEqual([]);
    expect(checker.runs.size).toBe(400);
    expect(received).toHaveLength(400);
    expect(new Set(received).size).toBe(200);
  });

  it("flushCallbacks waits only for its own run tree: one slow request does not hold another's", async () => {
    // The slow request's handler is held until the test opens its gate: a stalled machine cannot let it finish early.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const perRequest = new Map<string, SlowRecorder>([
      [ids[0] as string, new SlowRecorder(gate)],
      [ids[1] as string, new SlowRecorder(0)],
    ]);
    await Promise.all([...perRequest].map(([runId, handler]) => echo.invoke(1, { runId, callbacks: [handler] })));

    await flushCallbacks(ids[1] as string);

    // Had the flush waited for the slow request, its handler would have recorded its events by now.
    expect(perRequest.get(ids[1] as string)?.events).toEqual(['start 1', 'end 1']);
    expect(perRequest.get(ids[0] as string)?.events).toEqual([]);
    open();
    await flushCallbacks(ids[0] as string);
    expect(perRequest.get(ids[0] as string)?.events).toEqual(['start 1', 'end 1']);
  });

  it('applies backpressure when the queues reach maxQueuedEvents: the run waits, nothing is dropped', async () => {
    configure({ maxQueuedEvents: 4 });
    const slow = new SlowRecorder(5);
    let waited = false;
    const runs = Array.from({ length: 6 }, (_, i) => echo.invoke(i, { callbacks: [slow] }));
    void Promise.race(runs).then(() => { waited = slow.events.length > 0; });

    await Promise.all(runs);
    await awaitAllCallbacks();

    expect(waited).toBe(true);
    expect(slow.events).toHaveLength(12);
  });

  it('throws ConfigError for a missing run id', async () => {
    await expect(flushCallbacks(undefined as unknown as string)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('per-handler awaitHandlers', () => {
  it('sends only that handler to the background in the default blocking mode', async () => {
    const background = new SlowRecorder(20, { awaitHandlers: false });
    const blocking = new SlowRecorder(0);

    await echo.invoke(7, { callbacks: [background, blocking], runId: ids[2] });

    expect(blocking.events).toEqual(['start 7', 'end 7']);
    expect(background.events).toEqual([]);
    await flushCallbacks(ids[2] as string);
    expect(background.events).toEqual(['start 7', 'end 7']);
  });

  it('keeps a handler with awaitHandlers: true blocking in background mode', async () => {
    configure({ callbacks: 'background' });
    const blocking = new SlowRecorder(5, { awaitHandlers: true });
    await echo.invoke(3, { callbacks: [blocking] });
    expect(blocking.events).toEqual(['start 3', 'end 3']);
  });
});

describe('process exit with undelivered events', () => {
  const root = path.resolve(__dirname, '../..');
  const run = (body: string) =>
    spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', `const cs = require('./lib'); ${body}`], { cwd: root, encoding: 'utf8', timeout: 20_000 });

  it('delivers queued background events before the process exits', () => {
    const child = run(`
      cs.configure({ callbacks: 'background' });
      const seen = [];
      const handler = { name: 'late', async handleChainEnd(o) { await new Promise((r) => setTimeout(r, 20)); seen.push(o.output); } };
      process.on('exit', () => console.log('delivered ' + seen.join(',')));
      const echo = cs.RunnableLambda.from((x) => x);
      Promise.all([1, 2, 3].map((x) => echo.invoke(x, { callbacks: [handler] })));
    `);
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe('delivered 1,2,3');
  });

  it('warns about a handler stuck on a promise that never settles, delivers the rest, and exits', () => {
    const child = run(`
      cs.configure({ callbacks: 'background' });
      const seen = [];
      const handler = { name: 'Stuck', handleChainStart(_s, i) { if (i.input === 1) return new Promise(() => {}); seen.push('start ' + i.input); }, handleChainEnd(o) { seen.push('end ' + o.output); } };
      process.on('exit', () => console.log(seen.join(',')));
      const echo = cs.RunnableLambda.from((x) => x);
      echo.invoke(1, { callbacks: [handler] }).then(() => echo.invoke(2, { callbacks: [handler] }));
    `);
    expect(child.status).toBe(0);
    expect(child.stderr).toContain('Handler `Stuck` is stuck in handleChainStart');
    expect(child.stdout.trim()).toBe('end 1,start 2,end 2');
  });
});
