/**
 * The async boundaries callscope documents, each with how it behaves in every propagation mode. The
 * boundaries spec asserts every entry against what really happens; `npm run boundaries` renders the table in
 * the README from the spec's results, and a spec checks the README still shows exactly this table.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs';
import { lookup } from 'node:dns';
import { pipeline, Readable, Transform, Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { bindEmitter, bindToCurrentContext, RunnableLambda, type CallbackManager, type PropagationMode, type RunnableConfig } from '../../lib';

export type Outcome = 'kept' | 'lost';
/** The modes the boundaries spec runs on Node ('async-context' needs a runtime with the TC39 AsyncContext). */
export type NodeMode = Exclude<PropagationMode, 'async-context'>;
export type Remedy = 'bindToCurrentContext' | 'bindEmitter' | 'send the run id to the worker';

export interface ProbeContext {
  /** Invokes the probe's child runnable (passing the parent's config only for the 'pass config' remedy). */
  readonly invokeChild: () => Promise<unknown>;
  /** True when the case should apply its remedy. */
  readonly remedy: boolean;
  /** The config the parent run's body received. */
  readonly config: RunnableConfig;
  /** For children that run where the harness cannot see them (a worker): the parent run id they reported. */
  readonly recordRemoteChild: (parentRunId: string | undefined) => void;
}

export interface BoundaryCase {
  readonly name: string;
  /** What happens to a runnable invoked on the far side, per mode, without any remedy. */
  readonly expected: Readonly<Record<NodeMode, Outcome>>;
  /** What restores the link in the implicit modes where it is lost. */
  readonly remedy?: Remedy;
  /** Runs outside any run before the parent run starts. */
  readonly setup?: () => void;
  /**
   * Runs inside the parent run. May return a function that the harness calls after the parent run has
   * finished, outside any run (for boundaries that fire later).
   */
  readonly inside: (context: ProbeContext) => Promise<void | (() => Promise<void>)>;
}

const everywhere: Record<NodeMode, Outcome> = { 'async-local-storage': 'kept', 'cls-hooked': 'kept', explicit: 'lost' };
const nowhere: Record<NodeMode, Outcome> = { 'async-local-storage': 'lost', 'cls-hooked': 'lost', explicit: 'lost' };

const bindIf = <TArgs extends unknown[], TResult>(remedy: boolean, fn: (...args: TArgs) => TResult): ((...args: TArgs) => TResult) =>
  remedy ? bindToCurrentContext(fn) : fn;

/** A resource pool created outside any run: a waiting acquirer's callback runs when the holder releases. */
class CallbackPool {
  private busy = false;
  private readonly waiting: ((release: () => void) => void)[] = [];

  acquire(callback: (release: () => void) => void): void {
    if (!this.busy) {
      this.busy = true;
      callback(() => this.release());
    } else {
      this.waiting.push(callback);
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.busy = false;
    else next(() => this.release());
  }
}

export const boundaryCases: readonly BoundaryCase[] = [
  {
    name: '`await` of a native promise',
    expected: everywhere,
    inside: async ({ invokeChild }) => {
      await Promise.resolve();
      await invokeChild();
    },
  },
  {
    name: '`Promise.all`',
    expected: everywhere,
    inside: async ({ invokeChild }) => {
      await Promise.all([Promise.resolve().then(invokeChild)]);
    },
  },
  {
    name: '`Promise.race`',
    expected: everywhere,
    inside: async ({ invokeChild }) => {
      await Promise.race([Promise.resolve().then(invokeChild), new Promise(() => undefined)]);
    },
  },
  {
    name: '`Promise.allSettled`',
    expected: everywhere,
    inside: async ({ invokeChild }) => {
      await Promise.allSettled([Promise.resolve().then(invokeChild)]);
    },
  },
  {
    name: '`setTimeout`',
    expected: everywhere,
    inside: ({ invokeChild }) => new Promise((resolve) => setTimeout(() => resolve(invokeChild().then(() => undefined)), 1)),
  },
  {
    name: '`setInterval`',
    expected: everywhere,
    inside: ({ invokeChild }) =>
      new Promise((resolve) => {
        const timer = setInterval(() => {
          clearInterval(timer);
          resolve(invokeChild().then(() => undefined));
        }, 1);
      }),
  },
  {
    name: '`setImmediate`',
    expected: everywhere,
    inside: ({ invokeChild }) => new Promise((resolve) => setImmediate(() => resolve(invokeChild().then(() => undefined)))),
  },
  {
    name: '`process.nextTick`',
    expected: everywhere,
    inside: ({ invokeChild }) => new Promise((resolve) => process.nextTick(() => resolve(invokeChild().then(() => undefined)))),
  },
  {
    name: '`queueMicrotask`',
    expected: everywhere,
    inside: ({ invokeChild }) => new Promise((resolve) => queueMicrotask(() => resolve(invokeChild().then(() => undefined)))),
  },
  {
    name: 'custom thenable awaited in the run',
    expected: everywhere,
    inside: async ({ invokeChild }) => {
      await {
        then(resolve: (value: unknown) => void) {
          resolve(invokeChild());
        },
      };
    },
  },
  {
    name: 'async generator created in the run, consumed by `for await` outside it',
    expected: nowhere,
    remedy: 'bindToCurrentContext',
    inside: async ({ invokeChild, remedy }) => {
      async function* steps() {
        yield await invokeChild();
      }
      const iterator = steps();
      // The remedy binds each step of the iterator to the run (a RunnableGenerator does this by itself).
      const next = bindIf(remedy, () => iterator.next());
      return async () => {
        for (let step = await next(); step.done !== true; step = await next());
      };
    },
  },
  {
    name: '`EventEmitter` listener added outside the run, emitted in it',
    expected: everywhere,
    setup: () => {
      outsideEmitter = new EventEmitter();
    },
    inside: async ({ invokeChild }) => {
      const done = new Promise((resolve) => outsideEmitter.once('work', () => resolve(invokeChild())));
      outsideEmitter.emit('work');
      await done;
    },
  },
  {
    name: '`EventEmitter` listener added in the run, emitted later outside it',
    expected: nowhere,
    remedy: 'bindEmitter',
    inside: async ({ invokeChild, remedy }) => {
      const emitter = remedy ? bindEmitter(new EventEmitter()) : new EventEmitter();
      let finished: Promise<unknown> = Promise.resolve();
      emitter.on('later', () => {
        finished = invokeChild();
      });
      return async () => {
        emitter.emit('later');
        await finished;
      };
    },
  },
  {
    name: 'stream `pipeline` from `Readable.from` through a `Transform`, run in the run',
    expected: everywhere,
    inside: ({ invokeChild }) =>
      new Promise((resolve, reject) => {
        const transform = new Transform({
          objectMode: true,
          transform(chunk: unknown, _encoding, callback) {
            invokeChild().then(() => callback(null, chunk), callback);
          },
        });
        const sink = new Writable({ objectMode: true, write: (_chunk, _encoding, callback) => callback() });
        pipeline(Readable.from(['a']), transform, sink, (error) => (error ? reject(error) : resolve()));
      }),
  },
  {
    name: '`Transform` created in the run, written to later outside it',
    expected: nowhere,
    remedy: 'bindToCurrentContext',
    inside: async ({ invokeChild, remedy }) => {
      let finished: Promise<unknown> = Promise.resolve();
      const onChunk = bindIf(remedy, () => {
        finished = invokeChild();
      });
      const transform = new Transform({
        objectMode: true,
        transform(chunk: unknown, _encoding, callback) {
          onChunk();
          callback(null, chunk);
        },
      });
      transform.resume();
      return async () => {
        transform.write('late');
        await new Promise((resolve) => setImmediate(resolve));
        await finished;
      };
    },
  },
  {
    name: '`fs.readFile` callback',
    expected: everywhere,
    inside: ({ invokeChild }) =>
      new Promise((resolve, reject) => readFile(__filename, (error) => (error ? reject(error) : resolve(invokeChild().then(() => undefined))))),
  },
  {
    name: '`dns.lookup` callback',
    expected: everywhere,
    inside: ({ invokeChild }) =>
      new Promise((resolve, reject) => lookup('localhost', (error) => (error ? reject(error) : resolve(invokeChild().then(() => undefined))))),
  },
  {
    name: 'callback queued on a pool created outside any run, released by another run',
    expected: nowhere,
    remedy: 'bindToCurrentContext',
    setup: () => {
      // Another run holds the pool's only resource until the probe has queued its callback; it releases
      // from its own continuation, so the queued callback runs in the holder's context.
      pool = new CallbackPool();
      let letGo: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        letGo = resolve;
      });
      releaseHolder = letGo;
      const holder = RunnableLambda.from(async () => {
        const release = await new Promise<() => void>((resolve) => pool.acquire(resolve));
        await gate;
        release();
      }, { name: 'holder' });
      holding = holder.invoke(undefined);
    },
    inside: async ({ invokeChild, remedy }) => {
      const done = new Promise((resolve) => {
        pool.acquire(bindIf(remedy, (release: () => void) => {
          resolve(invokeChild().finally(release));
        }));
      });
      releaseHolder();
      await holding;
      await done;
    },
  },
  {
    name: '`AbortSignal` listener added in the run, aborted outside it',
    expected: nowhere,
    remedy: 'bindToCurrentContext',
    inside: async ({ invokeChild, remedy }) => {
      const controller = new AbortController();
      let finished: Promise<unknown> = Promise.resolve();
      controller.signal.addEventListener('abort', bindIf(remedy, () => {
        finished = invokeChild();
      }), { once: true });
      return async () => {
        controller.abort();
        await finished;
      };
    },
  },
  {
    name: '`worker_threads` worker started in the run',
    expected: nowhere,
    remedy: 'send the run id to the worker',
    inside: async ({ config, remedy, recordRemoteChild }) => {
      // A worker is another isolate: no context crosses. The remedy sends the run's id (and tags and
      // metadata) as data; the worker attaches its runs to that id with a CallbackManager of its own.
      const parentRunId = (config.callbacks as CallbackManager).parentRunId;
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { root: repoRoot, parentRunId: remedy ? parentRunId : undefined },
      });
      const reported = await new Promise<{ parentRunId?: string; sawConfig: boolean }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      if (reported.sawConfig) throw new Error('a worker saw the run config through context');
      recordRemoteChild(reported.parentRunId);
    },
  },
];

export const repoRoot = path.resolve(__dirname, '../..');

let outsideEmitter = new EventEmitter();
let pool = new CallbackPool();
let releaseHolder: () => void = () => undefined;
let holding: Promise<unknown> = Promise.resolve();

const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads');
  require(require.resolve('tsx/cjs', { paths: [workerData.root] }));
  const { CallbackManager, getCurrentConfig, RunCollector, RunnableLambda } = require(workerData.root + '/lib');
  (async () => {
    const collector = new RunCollector();
    const callbacks = workerData.parentRunId
      ? new CallbackManager([collector], { parentRunId: workerData.parentRunId })
      : [collector];
    await RunnableLambda.from((x) => x, { name: 'child' }).invoke(1, { callbacks });
    parentPort.postMessage({ sawConfig: getCurrentConfig() !== undefined, parentRunId: collector.runs[0].parentRunId });
  })();
`;
