import { CallbackManager, getCurrentConfig, RunnableLambda } from '../../lib';
import { NO_HANDLERS } from '../../lib/callbacks/dispatch';
import { cheapAbortSignals } from '../../lib/platform';
import { deferSignal, RunScope, watchedSignal } from '../../lib/runnables/config';

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

describe('deferSignal (a run scope whose signal is made on first read)', () => {
  it('copies every field of the scope, in order, with the signal as an own enumerable property', () => {
    const scope = sampleScope();
    const signal = new AbortController().signal;
    const deferred = deferSignal(scope, () => signal);

    expect(deferred).toBeInstanceOf(RunScope);
    expect(Object.keys(deferred)).toEqual(Object.keys(scope));
    for (const key of Object.keys(scope)) {
      if (key === 'signal') continue;
      expect((deferred as unknown as Record<string, unknown>)[key]).toBe((scope as unknown as Record<string, unknown>)[key]);
    }
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

  it(`makes it ${cheapAbortSignals ? 'at once where signals are cheap (Node 22 and later, as here)' : 'on first read where signals are costly (Node 20, as here)'}`, () => {
    let made = 0;
    const deferred = deferSignal(sampleScope(), () => {
      made++;
      return new AbortController().signal;
    });
    expect(made).toBe(cheapAbortSignals ? 1 : 0);
    expect(Object.getOwnPropertyDescriptor(deferred, 'signal')?.get === undefined).toBe(cheapAbortSignals);
    void deferred.signal;
    expect(made).toBe(1);
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
