import { EventEmitter } from 'node:events';
import {
  awaitAllCallbacks,
  bindEmitter,
  bindToCurrentContext,
  type CallbackManager,
  ConfigError,
  configure,
  getCurrentConfig,
  RunCollector,
  RunnableLambda,
  type CollectedRun,
  type PropagationMode,
  type RunnableConfig,
} from '../../lib';
import { shapeOf } from '../helpers/trees';

afterEach(() => configure({ propagation: 'async-local-storage' }));

const child = RunnableLambda.from((x: number) => x, { name: 'child' });

describe('getCurrentConfig()', () => {
  it('is undefined outside any run', () => {
    expect(getCurrentConfig()).toBeUndefined();
  });

  it('is undefined inside a background handler, which runs outside any run', async () => {
    let seen: RunnableConfig | undefined | 'not called' = 'not called';
    const handler = {
      name: 'background',
      awaitHandlers: false,
      handleChainEnd(): void {
        seen = getCurrentConfig();
      },
    };
    await child.invoke(1, { callbacks: [handler] });
    await awaitAllCallbacks();
    expect(seen).toBeUndefined();
  });

  it.each(['async-local-storage', 'cls-hooked'] as PropagationMode[])("returns the active run's config in '%s' mode", async (mode) => {
    configure({ propagation: mode });
    const collector = new RunCollector();
    let seen: RunnableConfig | undefined;
    let received: RunnableConfig | undefined;
    await RunnableLambda.from(async (_: unknown, config) => {
      await Promise.resolve();
      seen = getCurrentConfig();
      received = config;
    }, { name: 'outer' }).invoke(undefined, { callbacks: [collector], tags: ['t'] });

    expect(seen).toBe(received);
    expect((seen?.callbacks as CallbackManager).parentRunId).toBe(collector.runs[0]?.id);
    expect(seen?.tags).toEqual(['t']);
  });

  it("is undefined in 'explicit' mode, where nothing is active implicitly", async () => {
    configure({ propagation: 'explicit' });
    let seen: RunnableConfig | undefined = {};
    await RunnableLambda.from(() => {
      seen = getCurrentConfig();
    }).invoke(undefined, { callbacks: [new RunCollector()] });
    expect(seen).toBeUndefined();
  });
});

describe('bindToCurrentContext()', () => {
  it('binds to the run active when it is called, wherever the function runs later', async () => {
    const collector = new RunCollector();
    let bound: (() => Promise<number>) | undefined;
    await RunnableLambda.from(() => {
      bound = bindToCurrentContext(() => child.invoke(1));
    }, { name: 'binder' }).invoke(undefined, { callbacks: [collector] });

    await (bound as () => Promise<number>)(); // after the run ended, outside any run

    expect(collector.runs.map(shapeOf)).toEqual([{ type: 'chain', name: 'binder', children: [{ type: 'chain', name: 'child', children: [] }] }]);
  });

  it('bound outside any run, keeps its calls out of the run that calls it', async () => {
    const collector = new RunCollector();
    const detached = bindToCurrentContext(() => child.invoke(1));
    await RunnableLambda.from(() => detached(), { name: 'caller' }).invoke(undefined, { callbacks: [collector] });
    expect(collector.allRuns().map((run) => run.name)).toEqual(['caller']);
  });

  it('passes arguments and the result through', () => {
    expect(bindToCurrentContext((a: number, b: number) => a * b)(6, 7)).toBe(42);
  });

  it('throws ConfigError for a non-function', () => {
    expect(() => bindToCurrentContext('x' as unknown as () => void)).toThrow(ConfigError);
  });
});

describe('bindEmitter()', () => {
  async function inRun(collector: RunCollector, body: () => void): Promise<CollectedRun> {
    await RunnableLambda.from(body, { name: 'owner' }).invoke(undefined, { callbacks: [collector] });
    return collector.runs[0] as CollectedRun;
  }

  it('runs listeners added after binding in the context active at binding', async () => {
    const collector = new RunCollector();
    const emitter = new EventEmitter();
    const calls: Promise<unknown>[] = [];
    const owner = await inRun(collector, () => {
      bindEmitter(emitter);
      emitter.on('data', (x: number) => calls.push(child.invoke(x)));
      emitter.prependListener('data', (x: number) => calls.push(child.invoke(x + 1)));
      emitter.once('data', (x: number) => calls.push(child.invoke(x + 2)));
    });

    emitter.emit('data', 1); // outside any run
    await Promise.all(calls);

    expect(owner.children.map((run) => run.name)).toEqual(['child', 'child', 'child']);
  });

  it('lets removeListener/off remove listeners by their original function, once listeners too', () => {
    const emitter = bindEmitter(new EventEmitter());
    const calls: string[] = [];
    const on = () => calls.push('on');
    const once = () => calls.push('once');
    emitter.on('e', on);
    emitter.once('e', once);
    emitter.off('e', on);
    emitter.removeListener('e', once);

    emitter.emit('e');

    expect(calls).toEqual([]);
    expect(emitter.listenerCount('e')).toBe(0);
  });

  it('removes the most recent of a listener added twice, like EventEmitter', () => {
    const emitter = bindEmitter(new EventEmitter());
    let count = 0;
    const listener = () => count++;
    emitter.on('e', listener);
    emitter.on('e', listener);
    emitter.off('e', listener);
    emitter.emit('e');
    expect(count).toBe(1);
    emitter.removeAllListeners('e');
    emitter.emit('e');
    expect(count).toBe(1);
  });

  it('throws ConfigError for a non-emitter and for an emitter bound twice', () => {
    expect(() => bindEmitter({} as EventEmitter)).toThrow(ConfigError);
    const emitter = bindEmitter(new EventEmitter());
    expect(() => bindEmitter(emitter)).toThrow('already bound');
  });
});
