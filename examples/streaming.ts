/**
 * Streaming: `stream()` yields chunks as they are produced. A chat model streams one token per chunk, a
 * RunnableGenerator transforms a stream chunk by chunk, and a sequence streams through all its steps: the
 * generator starts on the model's first token, not on its whole answer. `invoke()` on a generator returns
 * its chunks combined.
 *
 * Run it with `npx tsx examples/streaming.ts`.
 */
import { FakeChatModel, RunnableGenerator, RunnableSequence, type AIMessage } from '../lib';

const model = new FakeChatModel({ responses: ['Streams flow one token at a time'] });

// Shouts every chunk it receives, as soon as it receives it.
const shout = RunnableGenerator.from(async function* (messages: AsyncIterable<AIMessage>) {
  for await (const message of messages) yield message.content.toUpperCase();
}, { name: 'shout' });

async function main(): Promise<void> {
  const tokens: string[] = [];
  for await (const chunk of model.stream('Tell me about streams')) tokens.push(chunk.content);
  console.log(`model.stream:    ${JSON.stringify(tokens)}`);

  const chain = RunnableSequence.from<string, string>([model, shout]);
  const shouted: string[] = [];
  for await (const chunk of chain.stream('Tell me about streams')) shouted.push(chunk);
  console.log(`sequence.stream: ${JSON.stringify(shouted)}`);

  // invoke() runs the generator over a one-chunk stream and combines what it yields: strings concatenate.
  console.log(`shout.invoke:    ${JSON.stringify(await shout.invoke({ role: 'ai', content: 'done' }))}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// model.stream:    ["Streams"," flow"," one"," token"," at"," a"," time"]
// sequence.stream: ["STREAMS"," FLOW"," ONE"," TOKEN"," AT"," A"," TIME"]
// shout.invoke:    "DONE"
