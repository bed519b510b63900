import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fc from 'fast-check';
import { z } from 'zod';
import {
  CallscopeError,
  configure,
  FakeChatModel,
  RunnableLambda,
  tool,
  type CallbackHandler,
  type RunnableConfig,
} from '../../lib';
import { InvariantChecker } from '../helpers/invariant';

/**
 * Fuzzed bad input: random configs, tool inputs, handler behaviours and aborts. Every case must end in a
 * result or a typed error (a CallscopeError, or the body's own error) within a bound, with no unhandled
 * rejection, and the run invariant must hold for an honest handler watching alongside.
 */

const numRuns = 150 * Number(process.env.FC_RUNS ?? 1);

const cyclic = (() => {
  const value: Record<string, unknown> = { name: 'loop' };
  value.self = value;
  return value;
})();

const weird = fc.oneof(
  fc.anything(),
  fc.constant(null),
  fc.constant(cyclic),
  fc.string({ unit: 'grapheme' }),
  fc.array(fc.string(), { minLength: 1000, maxLength: 3000 }),
  fc.bigInt(),
  fc.constant(Symbol('s')),
  fc.constant(() => undefined),
);

const configArb: fc.Arbitrary<unknown> = fc.oneof(
  weird,
  fc.record(
    {
      tags: fc.oneof(fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 2000 }), weird),
      metadata: fc.oneof(fc.dictionary(fc.string(), fc.anything()), fc.constant(cyclic), weird),
      runName: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1 }), weird),
      runId: fc.oneof(fc.uuid(), weird),
      maxConcurrency: fc.oneof(fc.integer({ min: 1, max: 5 }), weird),
      configurable: fc.oneof(fc.dictionary(fc.string(), fc.anything()), weird),
      timeout: fc.oneof(fc.integer({ min: 1, max: 30 }), weird),
      unknownKey: fc.anything(),
    },
    { requiredKeys: [] },
  ),
);

type Behaviour = 'ok' | 'throw' | 'reject' | 'hang' | 'slow';
const behaviourArb = fc.constantFrom<Behaviour>('ok', 'throw', 'reject', 'hang', 'slow');

function faultyHandler(behaviours: Behaviour[], raiseError: boolean): CallbackHandler {
  let i = 0;
  const act = (): unknown => {
    const behaviour = behaviours[i++ % behaviours.length];
    switch (behaviour) {
      case 'throw':
        throw new Error('handler throws');
      case 'reject':
        return Promise.reject(new Error('handler rejects'));
      case 'hang':
        return new Promise(() => undefined);
      case 'slow':
        return new Promise((resolve) => setTimeout(resolve, 2));
      default:
        return undefined;
    }
  };
  return {
    name: 'Faulty',
    raiseError,
    handlerTimeoutMs: 5,
    handleChainStart: act,
    handleChainEnd: act,
    handleChainError: act,
    handleToolStart: act,
    handleToolEnd: act,
    handleToolError: act,
    handleChatModelStart: act,
    handleLLMNewToken: act,
    handleLLMEnd: act,
    handleLLMError: act,
  };
}

const schema = z.object({ city: z.string().min(1), days: z.number().int().min(1).max(7) });
const model = new FakeChatModel({ responses: ['sunny and warm'], streaming: true });
const forecast = tool(async ({ city, days }) => (await model.invoke(`${city} ${days}`)).content, { name: 'forecast', description: 'd', schema });
const bodyError = new Error('body failed');
const top = RunnableLambda.from(async (input: { toolInput: unknown; fail: boolean }) => {
  const answer = await forecast.invoke(input.toolInput as z.input<typeof schema>);
  if (input.fail) throw bodyError;
  return answer;
}, { name: 'top' });

describe('fuzzed bad input', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    configure({ onHandlerError: undefined });
  });

  it('ends every case in a result or a typed error, never a crash, hang or unhandled rejection; the invariant holds', async () => {
    configure({ onHandlerError: () => undefined });
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.oneof(fc.record({ city: fc.string(), days: fc.integer({ min: -2, max: 9 }) }), weird),
        fc.array(behaviourArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
        async (rawConfig, toolInput, behaviours, raiseError, fail, abortAfter) => {
          const checker = new InvariantChecker();
          const controller = new AbortController();
          const base = (rawConfig !== null && typeof rawConfig === 'object' && !Array.isArray(rawConfig) ? rawConfig : { junk: rawConfig }) as Record<string, unknown>;
          const config = { ...base, callbacks: [checker, faultyHandler(behaviours, raiseError)], signal: controller.signal } as unknown as RunnableConfig;
          if (abortAfter !== undefined) setTimeout(() => controller.abort(new Error('fuzz abort')), abortAfter);

          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            top.invoke({ toolInput, fail }, config).then(
              (value) => ({ kind: 'result' as const, value }),
              (error: unknown) => ({ kind: 'error' as const, error }),
            ),
            new Promise<{ kind: 'hang' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'hang' }), 3_000))),
          ]);
          clearTimeout(timer);
          controller.abort();

          expect(outcome.kind).not.toBe('hang');
          if (outcome.kind === 'error') {
            const typed = outcome.error instanceof CallscopeError || outcome.error === bodyError || (raiseError && outcome.error instanceof Error && /^handler (throws|rejects)$/.test(outcome.error.message));
            if (!typed) throw new Error(`untyped failure: ${String(outcome.error)}`);
          } else if (outcome.kind === 'result') {
            expect(outcome.value).toBe('sunny and warm');
          }
          expect(checker.violations()).toEqual([]);
          expect(checker.open()).toEqual([]);
        },
      ),
      { numRuns, endOnFailure: true },
    );
    expect(unhandled).toEqual([]);
  }, 120_000);
});

/**
 * Fuzzed exit paths: random handlers (synchronous, asynchronous, never settling) with random numbers of queued
 * background events, then a random way out of the process. Each case runs in a child process. Accounting must
 * be exact: for every handler, events delivered plus events the exit warning names as lost equals events
 * queued; synchronous handlers lose nothing; the exit code is the one the path gives.
 */
describe('fuzzed exit paths', () => {
  type Kind = 'sync' | 'async' | 'hang';
  type Way = 'exit' | 'uncaught' | 'unhandled' | 'sigterm';
  const ends: Record<Way, { code: string; status: number }> = {
    exit: { code: 'process.exit(7);', status: 7 },
    uncaught: { code: "throw new Error('crash');", status: 1 },
    unhandled: { code: "Promise.reject(new Error('crash'));", status: 1 },
    sigterm: { code: "process.kill(process.pid, 'SIGTERM');", status: 143 },
  };

  it('never loses an event silently, on any exit path', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<Kind>('sync', 'async', 'hang'), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom<Way>('exit', 'uncaught', 'unhandled', 'sigterm'),
        (kinds, events, way) => {
          const script = `
            const cs = require('./lib');
            cs.configure({ callbacks: 'background', shutdownSignals: ['SIGTERM'], shutdownTimeoutMs: 200 });
            const kinds = ${JSON.stringify(kinds)};
            const delivered = kinds.map(() => 0);
            const handlers = kinds.map((kind, i) => ({
              name: 'H' + i,
              handleChainStart: kind === 'sync' ? () => { delivered[i]++; }
                : kind === 'async' ? async () => { await new Promise((r) => setTimeout(r, 1)); delivered[i]++; }
                : () => new Promise(() => {}),
            }));
            const echo = cs.RunnableLambda.from((x) => x);
            for (let i = 0; i < ${events}; i++) echo.invoke(i, { callbacks: handlers }).catch(() => {});
            process.on('exit', () => console.log(JSON.stringify(delivered)));
            ${ends[way].code}
          `;
          const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
            cwd: path.resolve(__dirname, '../..'),
            encoding: 'utf8',
            timeout: 20_000,
          });

          expect(child.status).toBe(ends[way].status);
          const delivered = JSON.parse(child.stdout.trim()) as number[];
          const warnings = child.stderr.split('\n').filter((line) => line.startsWith('[callscope]'));
          expect(warnings.length).toBeLessThanOrEqual(1);
          const lost = new Map([...(warnings[0] ?? '').matchAll(/(\d+) of `(H\d)`/g)].map((match) => [match[2], Number(match[1])]));
          kinds.forEach((kind, i) => {
            const lostHere = lost.get(`H${i}`) ?? 0;
            expect((delivered[i] ?? 0) + lostHere).toBe(events);
            if (kind === 'sync') expect(lostHere).toBe(0);
          });
        },
      ),
      { numRuns: 4 * Number(process.env.FC_RUNS ?? 1), endOnFailure: true },
    );
  }, 120_000);
});
