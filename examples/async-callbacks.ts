/**
 * The "callbacks in async environments" example from LangChain's docs. With `ANTHROPIC_API_KEY` set it
 * streams from Anthropic through ChatAnthropic, with the seed's model and `max_tokens`; without it, the
 * embedded FakeChatModel stands in: no API key, no network, the same output order.
 *
 * Run it with `npx tsx examples/async-callbacks.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AsyncCallbackHandler,
  BaseCallbackHandler,
  ConsoleTracer,
  FakeChatModel,
  type BaseChatModel,
  type CallbackHandler,
  type LLMResult,
  type Serialized,
} from '../lib';
import { ChatAnthropic } from '../lib/anthropic';

// Python runs a sync handler in a thread pool executor when the model runs asynchronously. Node has no
// such executor: a BaseCallbackHandler method is called synchronously, right when the token is produced,
// on the same thread as everything else. Keep it quick; it holds up the model while it runs.
class MyCustomSyncHandler extends BaseCallbackHandler {
  override handleLLMNewToken(token: string): void {
    console.log(`Sync handler called synchronously: token: ${token}`);
  }
}

// An AsyncCallbackHandler method is awaited before the run goes on: the model emits no token until the
// start handler has woken up, and the call does not return until the end handler has.
class MyCustomAsyncHandler extends AsyncCallbackHandler {
  // A chat model calls handleLLMStart for handlers that do not define handleChatModelStart, as LangChain
  // does; the messages arrive rendered as one prompt string.
  override async handleLLMStart(_serialized: Serialized, _prompts: string[]): Promise<void> {
    console.log('zzzz....');
    await sleep(300);
    console.log('Hi! I just woke up. Your llm is starting');
  }

  override async handleLLMEnd(_output: LLMResult): Promise<void> {
    console.log('zzzz....');
    await sleep(300);
    console.log('Hi! I just woke up. Your llm is ending');
  }
}

// `streaming: true` makes invoke() report every token; the constructor's callbacks apply to every run.
function chooseModel(callbacks: CallbackHandler[]): BaseChatModel {
  if (process.env.ANTHROPIC_API_KEY) {
    // The seed's model and max_tokens. Its answer differs from run to run, so the `Prints:` block below
    // shows the offline run.
    console.log('Model: ChatAnthropic claude-3-7-sonnet-20250219 (Anthropic API, ANTHROPIC_API_KEY is set)');
    return new ChatAnthropic({ model: 'claude-3-7-sonnet-20250219', maxTokens: 25, streaming: true, callbacks });
  }
  // No API key: the embedded model, no network.
  console.log('Model: FakeChatModel (embedded, offline)');
  return new FakeChatModel({
    responses: ["Why don't scientists trust atoms?\n\nBecause they make up everything!"],
    streaming: true,
    callbacks,
  });
}

async function main(): Promise<void> {
  const chat = chooseModel([new MyCustomSyncHandler(), new MyCustomAsyncHandler()]);
  // A ConsoleTracer given for this call prints the run's tree once it has ended (durations left out so the
  // output is the same on every run).
  const result = await chat.invoke('Tell me a joke', { callbacks: [new ConsoleTracer({ timings: false })] });
  console.log(`Result: ${JSON.stringify(result)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// Model: FakeChatModel (embedded, offline)
// zzzz....
// Hi! I just woke up. Your llm is starting
// Sync handler called synchronously: token: Why
// Sync handler called synchronously: token:  don't
// Sync handler called synchronously: token:  scientists
// Sync handler called synchronously: token:  trust
// Sync handler called synchronously: token:  atoms?
// Sync handler called synchronously: token:
//
// Because
// Sync handler called synchronously: token:  they
// Sync handler called synchronously: token:  make
// Sync handler called synchronously: token:  up
// Sync handler called synchronously: token:  everything!
// zzzz....
// Hi! I just woke up. Your llm is ending
// llm FakeChatModel  10 tokens  in: "Tell me a joke"  out: "Why don't scientists trust atoms?\n\nBecause they make up …
// Result: {"role":"ai","content":"Why don't scientists trust atoms?\n\nBecause they make up everything!"}
