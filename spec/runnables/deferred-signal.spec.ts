import { CallbackManager, getCurrentConfig, RunnableLambda } from '../../lib';
import { NO_HANDLERS } from '../../lib/callbacks/dispatch';
import { cheapAbortSignals } from '../../lib/platform';
import { deferSignal, RunScope, watchedSignal } from '../../lib/runnables/config';
import { openScope, type RunTarget } from '../../lib/runnables/run';

function sampleScope(): RunScope {
  const owner = new RunScope(new CallbackManager(NO_HANDLERS, { parentRunId: 'parent' }), [], {}, undefined, undefined, undefined);
  const scope = new RunScope(
    new CallbackManager(NO_HANDLERS, { parentRunId: 'run' }),
    Object.freeze(['t']),
    Object.freeze({ k: 1 }),
    undefined,
    Object.freeze({ c: 2 }),
    4,
    'parent',
    'name',
    'root',
    owner,
    undefined,
  );
  scope._inheritTags = Object.freeze(['inherited']);
  scope._release = () => undefined;
  return scope;
}

/**
 * A run target that makes its runs' signal itself (as a server request's run does): on the first call, then
 * the same one. Counts the signals made.
 */
function signalMakingTarget(): RunTarget<unknown, unknown> & { made: number } {
  let signal: AbortSignal | undefined;
  return {
    name: 'request',
    boundConfig: undefined,
    made: 0,
    _emitStart: () => undefined,
    _emitEnd: () => undefined,
    _emitError: () => undefined,
    _invoke: () => undefined,
    _makeSignal(): AbortSignal {
      if (signal === undefined) {
        this.made++;
        signal = new AbortController().signal;
      }
      return signal;
    },
  };
}

/** A signal source as deferSignal expects one: makes its signal on the first call, then returns that one. */
function countingSource(make: () => AbortSignal = () => new AbortController().signal): { _makeSignal(): AbortSignal; made: number } {
  let signal: AbortSignal | undefined;
  return {
    made: 0,
    _makeSignal(): AbortSignal {
      if (signal === undefined) {
        this.made++;
        signal = make();
      }
      return signal;
    },
  };
}

describe('deferSignal (a run scope whose signal is made on first read)', () => {
  it('copies every field of the scope, in order, with the signal as an own enumerable property', () => {
    const scope = sampleScope();
    const signal = new AbortController().signal;
    const deferred = deferSignal(scope, countingSource(() => signal));

    expect(deferred).toBeInstanceOf(RunScope);
    expect(Object.keys(deferred)).toEqual(Object.keys(scope));
    for (const key of Object.keys(scope)) {
      if (key === 'signal' || key === '_signalUnwatched') continue;
      expect((deferred as unknown as Record<string, unknown>)[key]).toBe((scope as unknown as Record<string, unknown>)[key]);
    }
    // The one field that differs: the run does not watch a signal its target makes.
    expect(scope._signalUnwatched).toBe(false);
    expect(deferred._signalUnwatched).toBe(true);
    expect(Object.getOwnPropertyDescriptor(deferred, 'signal')).toMatchObject({ enumerable: true });
    expect({ ...deferred }.signal).toBe(signal);
  });

  it("reads its source's one signal, and the run does not watch it itself", () => {
    const source = countingSource();
    const deferred = deferSignal(sampleScope(), source);

    expect(watchedSignal(deferred)).toBeUndefined();
    const first = deferred.signal;
    expect(first).toBeInstanceOf(AbortSignal);
    expect(deferred.signal).toBe(first);
    expect({ ...deferred }.signal).toBe(first);
    expect(source.made).toBe(1);
  });

  it('makes it on first read, not before', () => {
    const source = countingSource();
    const deferred = deferSignal(sampleScope(), source);
    expect(source.made).toBe(0);
    expect(Object.getOwnPropertyDescriptor(deferred, 'signal')?.get).toBeInstanceOf(Function);
    void deferred.signal;
    expect(source.made).toBe(1);
  });

  it('keeps no function of its own: the scope holds its source, so one request allocates no closure for it', () => {
    const source = countingSource();
    const deferred = deferSignal(sampleScope(), source);
    const held = Object.getOwnPropertySymbols(deferred).map((key) => (deferred as unknown as Record<symbol, unknown>)[key]);
    expect(held).toEqual([source]);
  });

  it(`is what a run whose target makes its signal gets ${cheapAbortSignals ? 'only where signals are costly: here (Node 22 and later) the signal is made at once' : 'where signals are costly (Node 20, as here)'}, and the run does not watch it either way`, () => {
    const target = signalMakingTarget();
    const scope = openScope(target, undefined, undefined);

    expect(target.made).toBe(cheapAbortSignals ? 1 : 0);
    expect(Object.getOwnPropertyDescriptor(scope, 'signal')?.get === undefined).toBe(cheapAbortSignals);
    expect(watchedSignal(scope)).toBeUndefined();
    expect(scope.signal).toBeInstanceOf(AbortSignal);
    expect(scope.signal).toBe(scope.signal);
    expect(target.made).toBe(1);
  });

  it("built at once for such a run (not copied), has every field of a run's scope, in order, with the same values", () => {
    const made = openScope(signalMakingTarget(), undefined, undefined);
    const plain = openScope({ ...signalMakingTarget(), _makeSignal: undefined }, undefined, undefined);

    expect(made).toBeInstanceOf(RunScope);
    expect(Object.keys(made)).toEqual(Object.keys(plain));
    for (const key of Object.keys(plain)) {
      if (key === 'signal' || key === '_signalUnwatched' || key === 'callbacks' || key === '_rootRunId') continue;
      expect((made as unknown as Record<string, unknown>)[key]).toEqual((plain as unknown as Record<string, unknown>)[key]);
    }
    // Each is the root of its own run.
    expect(made._rootRunId).toBe(made.callbacks.parentRunId);
    expect(made.callbacks.handlerSet).toBe(plain.callbacks.handlerSet);
  });

  it('leaves a run that inherits a signal watching the inherited one, without making its own', () => {
    const target = signalMakingTarget();
    const inherited = new AbortController().signal;
    const scope = openScope(target, { signal: inherited }, undefined);

    expect(target.made).toBe(0);
    expect(scope.signal).toBe(inherited);
    expect(watchedSignal(scope)).toBe(inherited);
  });

  it('takes signals as cheap exactly from Node 22', () => {
    expect(cheapAbortSignals).toBe(Number(process.versions.node.split('.')[0]) >= 22);
  });

  it('gives runs started inside it the signal, so aborting it cancels them', async () => {
    const controller = new AbortController();
    const root = sampleScope();
    const deferred = deferSignal(new RunScope(root.callbacks, [], {}, undefined, undefined, undefined), countingSource(() => controller.signal));
    const child = RunnableLambda.from(() => getCurrentConfig()?.signal, { name: 'child' });

    const seen = await child.invoke(undefined, deferred);
    expect(seen).toBe(controller.signal);
  });
});
