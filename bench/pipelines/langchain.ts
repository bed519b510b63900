/* eslint-disable @typescript-eslint/require-await -- the workloads are async functions on purpose, as in
   user code: each call creates the promise whose context propagation is what the benchmark measures. */
/** The same workloads built with `@langchain/core`, configured to do the same work as callscope. */
import './langchain-env';
import { AsyncLocalStorage } from 'node:async_hooks';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { AIMessageChunk } from '@langchain/core/messages';
import { RunnableLambda, RunnableParallel, type Runnable } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { repeat, type Contender } from '../harness/interleave';
import { expectCount } from '../harness/verify';

// Without a global AsyncLocalStorage, LangChain cannot find the parent run of a runnable invoked without
// `config`: a handler given at the top sees 2 events of nested-3 instead of 6. Its entry points for
// Node set this up (as `@langchain/core/context` does); a bare `@langchain/core/runnables` import does not.
AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new AsyncLocalStorage());

/** Counts chain start and end events (LangChain's handler base class). */
export class LangChainCountingHandler extends BaseCallbackHandler {
  name = 'counting-handler';
  events = 0;

  override handleChainStart(): void {
    this.events++;
  }

  override handleChainEnd(): void {
    this.events++;
  }
}

/**
 * Counts streamed tokens synchronously. `lc_prefer_streaming` makes LangChain's `invoke` stream the model
 * and emit a token event per chunk, as callscope's `FakeChatModel({ streaming: true })` does.
 */
export class LangChainTokenCounter extends BaseCallbackHandler {
  name = 'token-counter';
  readonly lc_prefer_streaming = true;
  tokens = 0;

  override handleLLMNewToken(): void {
    this.tokens++;
  }
}

/** Counts streamed tokens in an async method. */
export class LangChainAsyncTokenCounter extends BaseCallbackHandler {
  name = 'async-token-counter';
  readonly lc_prefer_streaming = true;
  tokens = 0;

  // Nothing to await: the point is the promise an async method returns, which the run must await.
  override async handleLLMNewToken(): Promise<void> {
    this.tokens++;
  }
}

/** A chain of `depth` nested async lambdas, children invoked without `config` (found through context). */
export function langChainNestedChain(depth: number): Runnable<number, number> {
  let child: Runnable<number, number> = RunnableLambda.from(async (x: number) => x + 1);
  for (let level = depth - 2; level >= 0; level--) {
    const inner = child;
    child = RunnableLambda.from(async (x: number) => inner.invoke(x));
  }
  return child;
}

/** A lambda that invokes `width` child lambdas at once with `Promise.all`. */
export function langChainFanOut(width: number): Runnable<number, number> {
  const children = Array.from({ length: width }, (_, index) => RunnableLambda.from(async (x: number) => x + index));
  return RunnableLambda.from(async (x: number) => (await Promise.all(children.map((child) => child.invoke(x)))).length);
}

/** LangChain's `RunnableParallel` of `width` async lambdas, each adding its index to the input. */
export function langChainParallelOfLambdas(width: number): Runnable<number, Record<string, number>> {
  const steps = Object.fromEntries(Array.from({ length: width }, (_, index) => [`k${index}`, RunnableLambda.from(async (x: number) => x + index)]));
  return RunnableParallel.from(steps) as Runnable<number, Record<string, number>>;
}

/**
 * LangChain's fake streaming chat model, streaming exactly `tokens` (one chunk each) with no pause.
 * The chunks are built here, once, so the benchmark times the streaming and not their construction.
 */
export function langChainStreamingModel(tokens: readonly string[]): FakeStreamingChatModel {
  return new FakeStreamingChatModel({ sleep: 0, chunks: tokens.map((token) => new AIMessageChunk({ content: token })) });
}

/**
 * LangChain's nested lambdas with a counting handler given only at the top, verified (every event
 * delivered when `invoke` resolves) and timed with a fresh config literal per invoke.
 *
 * @throws {Error} when the verification fails.
 */
export async function langChainNestedContender(
  depth: number,
  opsPerSample: number,
  name: string,
  { withHandler = true }: { withHandler?: boolean } = {},
): Promise<Contender> {
  const chain = langChainNestedChain(depth);
  const check = new LangChainCountingHandler();
  const output = await chain.invoke(1, withHandler ? { callbacks: [check] } : undefined);
  expectCount(`${name} nested-${depth}: output`, output, 2);
  expectCount(`${name} nested-${depth}: events received when invoke resolved`, check.events, withHandler ? 2 * depth : 0);
  const handler = new LangChainCountingHandler();
  const op = withHandler ? () => chain.invoke(1, { callbacks: [handler] }) : () => chain.invoke(1);
  return { name, opsPerSample, sample: repeat(opsPerSample, op) };
}
