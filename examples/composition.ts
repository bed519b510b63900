/**
 * Composition: a parallel of three branches, one retried after a rate limit, one falling back to a
 * cheaper model when the first is down, and a routing branch. Every step, every attempt and every try is
 * a child run in the right place, printed here by ConsoleTracer once the pipeline has ended.
 *
 * Run it with `npx tsx examples/composition.ts`.
 */
import { ConsoleTracer, FakeChatModel, RunnableBranch, RunnableLambda, RunnableParallel, type ChatModelInput } from '../lib';

class RateLimitError extends Error {}

// The summarizer hits a rate limit once, then answers: withRetry runs it again after a short wait.
let calls = 0;
const summarizer = new FakeChatModel({ responses: ['A short summary'] });
const summarize = RunnableLambda.from(
  async (text: string) => {
    if (++calls === 1) throw new RateLimitError('429: slow down');
    return (await summarizer.invoke(`Summarize: ${text}`)).content;
  },
  { name: 'summarize' },
).withRetry({ stopAfterAttempt: 3, retryIf: (error) => error instanceof RateLimitError, backoff: { initialMs: 10 } });

// The big model is down: withFallbacks answers with the small one.
const bigModel = RunnableLambda.from(
  (_input: ChatModelInput): Promise<string> => {
    throw new Error('503: big model unavailable');
  },
  { name: 'bigModel' },
);
const smallModel = new FakeChatModel({ responses: ['Three keywords'] }).pipe((message) => message.content);
const keywords = RunnableLambda.from((text: string) => `Keywords for: ${text}`, { name: 'prompt' }).pipe(bigModel.withFallbacks([smallModel]));

// A branch routes on the input: long texts get one label, short ones another.
const classify = RunnableBranch.from([[RunnableLambda.from((text: string) => text.length > 20, { name: 'isLong' }), () => 'long'], () => 'short']);

const pipeline = RunnableParallel.from({ summary: summarize, keywords, length: classify });

async function main(): Promise<void> {
  const result = await pipeline.invoke('callscope keeps run trees right', { callbacks: [new ConsoleTracer({ timings: false })] });
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// chain RunnableMap  in: "callscope keeps run trees right"  out: {"summary":"A short summary","keywords":"Three keywords","l…
// ├─ chain summarize  in: "callscope keeps run trees right"  out: "A short summary"
// │  ├─ chain summarize  in: "callscope keeps run trees right"  ✗ Error: 429: slow down
// │  └─ chain summarize  in: "callscope keeps run trees right"  out: "A short summary"
// │     └─ llm FakeChatModel  in: "Summarize: callscope keeps run trees right"  out: "A short summary"
// ├─ chain RunnableSequence  in: "callscope keeps run trees right"  out: "Three keywords"
// │  ├─ chain prompt  in: "callscope keeps run trees right"  out: "Keywords for: callscope keeps run trees right"
// │  └─ chain RunnableWithFallbacks  in: "Keywords for: callscope keeps run trees right"  out: "Three keywords"
// │     ├─ chain bigModel  in: "Keywords for: callscope keeps run trees right"  ✗ Error: 503: big model unavailable
// │     └─ chain RunnableSequence  in: "Keywords for: callscope keeps run trees right"  out: "Three keywords"
// │        ├─ llm FakeChatModel  in: "Keywords for: callscope keeps run trees right"  out: "Three keywords"
// │        └─ chain RunnableLambda  in: {"role":"ai","content":"Three keywords"}  out: "Three keywords"
// └─ chain RunnableBranch  in: "callscope keeps run trees right"  out: "long"
//    ├─ chain isLong  in: "callscope keeps run trees right"  out: true
//    └─ chain RunnableLambda  in: "callscope keeps run trees right"  out: "long"
// {"summary":"A short summary","keywords":"Three keywords","length":"long"}
