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

/** A run target that makes its runs' signal itself (as a server request's run does), counting the signals made. */
function signalMakingTarget(): RunTarget<unknown, unknown> & { made: number } {
  return {
    name: 'request',
    boundConfig: undefined,
    made: 0,
    _emitStart: () => undefined,
    _emitEnd: () => undefined,
    _emitError: () => undefined,
    _invoke: () => undefined,
    _makeSignal(): AbortSignal {
      this.made++;
      return new AbortController().signal;
    },
  };
}

describe('deferSignal (a run scope whose signal is made on first read)', () => {
  it('copies every field of the scope, in order, with the signal as an own enumerable property', () => {
    const scope = sampleScope();
    const signal = new AbortController().signal;
    const deferred = deferSignal(scope, () => signal);

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

  it('makes the signal once, and the run does not watch it itself', () => {
    let made = 0;
    const deferred = deferSignal(sampleScope(), () => {
      made++;
      return new AbortController().signal;
    });

    expect(watchedSignal(deferred)).toBeUndefined();
    const first = deferred.signal;
    expect(first).toBeInstanceOf(AbortSignal);
    expect(deferred.signal).toBe(first);
    expect(made).toBe(1);
  });

  it('makes it on first read, not before', () => {
    let made = 0;
    const deferred = deferSignal(sampleScope(), () => {
      made++;
      return new AbortController().signal;
    });
    expect(made).toBe(0);
    expect(Object.getOwnPropertyDescriptor(deferred, 'signal')?.get).toBeInstanceOf(Function);
    void deferred.signal;
    expect(made).toBe(1);
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
    const deferred = deferSignal(new RunScope(root.callbacks, [], {}, undefined, undefined, undefined), () => controller.signal);
    const child = RunnableLambda.from(() => getCurrentConfig()?.signal, { name: 'child' });

    const seen = await child.invoke(undefined, deferred);
    expect(seen).toBe(controller.signal);
  });
});
