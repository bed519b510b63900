/* eslint-disable @typescript-eslint/require-await -- the workloads are async functions on purpose, as in
   user code: each call creates the promise whose context propagation is what the benchmark measures. */
/** The benchmarked workloads built with callscope's public API, exactly as a user would write them. */
import type { FakeChatModel as FakeChatModelType, PropagationMode, Runnable } from '../../lib';
import { AsyncCallbackHandler, BaseCallbackHandler, configure, FakeChatModel, RunnableLambda, RunnableParallel } from '../target';
import { repeat, type Contender } from '../harness/interleave';
import { expectCount } from '../harness/verify';

/** Counts chain start and end events: the cheapest handler that still has to be called. */
export class CountingHandler extends BaseCallbackHandler {
  events = 0;

  override handleChainStart(): void {
    this.events++;
  }

  override handleChainEnd(): void {
    this.events++;
  }
}

/** Counts streamed tokens synchronously. */
export class TokenCounter extends BaseCallbackHandler {
  tokens = 0;

  override handleLLMNewToken(): void {
    this.tokens++;
  }
}

/** Counts streamed tokens in an async method, so every token event is awaited. */
export class AsyncTokenCounter extends AsyncCallbackHandler {
  tokens = 0;

  // Nothing to await: the point is the promise an async method returns, which the run must await.
  override async handleLLMNewToken(): Promise<void> {
    this.tokens++;
  }
}

/**
 * How a lambda reaches its child: through context (the implicit modes), or by passing its `config` on by
 * hand, as `'explicit'` mode (and LangChain without AsyncLocalStorage) requires.
 */
export type Linking = 'context' | 'explicit';

/** Selects a propagation mode; a no-op when it is already in force. */
export function useMode(mode: PropagationMode): void {
  configure({ propagation: mode });
}

/**
 * A chain of `depth` nested async lambdas: level 0 calls level 1 … the leaf returns its input plus one.
 * nested-3 is `nestedChain(3, …)`: top → mid → leaf.
 */
export function nestedChain(depth: number, linking: Linking): Runnable<number, number> {
  let child: Runnable<number, number> = RunnableLambda.from(async (x: number) => x + 1, { name: `level-${depth - 1}` });
  for (let level = depth - 2; level >= 0; level--) {
    const inner = child;
    child =
      linking === 'context'
        ? RunnableLambda.from(async (x: number) => inner.invoke(x), { name: `level-${level}` })
        : RunnableLambda.from(async (x: number, config) => inner.invoke(x, config), { name: `level-${level}` });
  }
  return child;
}

/** A lambda that invokes `width` child lambdas at once with `Promise.all` and returns how many answered. */
export function fanOut(width: number): Runnable<number, number> {
  const children = Array.from({ length: width }, (_, index) => RunnableLambda.from(async (x: number) => x + index, { name: `child-${index}` }));
  return RunnableLambda.from(async (x: number) => (await Promise.all(children.map((child) => child.invoke(x)))).length, {
    name: 'fan-out',
  });
}

/** A `RunnableParallel` of `width` async lambdas, each adding its index to the input. */
export function parallelOfLambdas(width: number): Runnable<number, Record<string, number>> {
  const steps = Object.fromEntries(Array.from({ length: width }, (_, index) => [`k${index}`, RunnableLambda.from(async (x: number) => x + index, { name: `child-${index}` })]));
  return RunnableParallel.from(steps);
}

/** The embedded fake model, streaming `text` token by token during `invoke`. */
export function streamingModel(text: string): FakeChatModelType {
  return new FakeChatModel({ responses: [text], streaming: true });
}

/** A response of exactly `count` tokens as callscope's FakeChatModel splits text ("w1", " w2", …). */
export function responseOfTokens(count: number): string {
  const text = Array.from({ length: count }, (_, index) => `w${index % 1000}`).join(' ');
  const tokens = FakeChatModel.tokenize(text).length;
  if (tokens !== count) throw new Error(`Built a response of ${tokens} tokens, expected ${count}.`);
  return text;
}

/** Options of {@link callscopeNestedContender}. */
export interface NestedContenderOptions {
  /** Levels of the chain: 3 for nested-3. */
  readonly depth: number;
  readonly mode: PropagationMode;
  /** Invokes per timed sample. */
  readonly opsPerSample: number;
  /** Give the top-level invoke a counting handler. @default true */
  readonly withHandler?: boolean;
  /** Row label. @default `callscope (<mode>)` */
  readonly name?: string;
}

/**
 * Nested lambdas in one propagation mode, a handler given only at the top: verified to deliver every
 * start and end event by the time `invoke` resolves, then timed with a fresh config literal per invoke,
 * as user code passes one.
 *
 * @throws {Error} when the verification fails.
 */
export async function callscopeNestedContender(options: NestedContenderOptions): Promise<Contender> {
  const { depth, mode, opsPerSample, withHandler = true } = options;
  const name = options.name ?? `callscope (${mode})`;
  useMode(mode);
  const chain = nestedChain(depth, mode === 'explicit' ? 'explicit' : 'context');
  const check = new CountingHandler();
  const output = await chain.invoke(1, withHandler ? { callbacks: [check] } : undefined);
  expectCount(`${name} nested-${depth}: output`, output, 2);
  expectCount(`${name} nested-${depth}: events received when invoke resolved`, check.events, withHandler ? 2 * depth : 0);
  const handler = new CountingHandler();
  const op = withHandler ? () => chain.invoke(1, { callbacks: [handler] }) : () => chain.invoke(1);
  return { name, opsPerSample, before: () => useMode(mode), sample: repeat(opsPerSample, op) };
}
