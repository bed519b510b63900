/**
 * traceable(): plain functions become runs without being rewritten as runnables. Each call of a traced
 * function is a run nested under the run it is called in; a retriever reports its documents as LangChain's
 * retriever events; an async generator keeps its run open until its stream is consumed; a synchronous
 * function stays synchronous. `processInputs` keeps a secret out of what handlers see.
 *
 * Run it with `npx tsx examples/traceable.ts`.
 */
import { BaseCallbackHandler, ConsoleTracer, FakeChatModel, traceable, type RetrievedDocument } from '../lib';

const DOCS = ['callscope carries callbacks through LLM call trees.', 'Runs nest through AsyncLocalStorage.', 'Tokens stream to handlers.'];

// A retriever: its run emits handleRetrieverStart/End, the documents as { pageContent, metadata }.
const search = traceable(
  async (query: string, k: number): Promise<RetrievedDocument[]> =>
    (await Promise.resolve(DOCS)).filter((text) => query.split(' ').some((word) => text.toLowerCase().includes(word))).slice(0, k).map((pageContent, rank) => ({ pageContent, metadata: { rank } })),
  // The query alone is what LangChain retriever handlers expect; `k` stays out of it.
  { name: 'search', runType: 'retriever', processInputs: ([query]) => query },
);

// A synchronous function stays synchronous: no await needed.
const buildPrompt = traceable((question: string, docs: RetrievedDocument[]) => `${docs.map((doc) => doc.pageContent).join(' ')}\nQ: ${question}`, {
  name: 'buildPrompt',
  processInputs: ([question, docs]) => ({ question, docs: docs.length }),
});

const model = new FakeChatModel({ responses: ['It nests runs and streams tokens.'] });

// An async generator: the caller gets the chunks as they come, and the run ends when they are consumed.
const answer = traceable(async function* (question: string, apiKey: string) {
  if (apiKey === '') throw new Error('no API key'); // a secret the handlers must not see (processInputs drops it)
  const docs = await search(question, 2);
  for await (const chunk of model.stream(buildPrompt(question, docs))) yield chunk.content;
}, { name: 'answer', processInputs: ([question]) => ({ question }) });

/** Prints the retriever events as a LangChain retriever handler would receive them. */
class RetrieverLog extends BaseCallbackHandler {
  override handleRetrieverStart(_serialized: unknown, query: string): void {
    console.log(`[retriever] query: ${query}`);
  }

  override handleRetrieverEnd(documents: RetrievedDocument[]): void {
    console.log(`[retriever] documents: ${documents.map((doc) => JSON.stringify(doc.metadata)).join(', ')}`);
  }
}

async function main(): Promise<void> {
  const traced = answer.withConfig({ callbacks: [new ConsoleTracer({ timings: false, colors: false }), new RetrieverLog()] });
  let text = '';
  for await (const chunk of traced('how do runs nest', 'sk-secret')) text += chunk;
  console.log(`answer: ${text}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// [retriever] query: how do runs nest
// [retriever] documents: {"rank":0}
// chain answer  in: {"question":"how do runs nest"}  out: "It nests runs and streams tokens."
// ├─ retriever search  in: how do runs nest  out: ["Runs nest through AsyncLocalStorage."]
// ├─ chain buildPrompt  in: {"question":"how do runs nest","docs":1}  out: "Runs nest through AsyncLocalStorage.\nQ: how do runs nest"
// └─ llm FakeChatModel  6 tokens  in: "Runs nest through AsyncLocalStorage.\nQ: how do runs nest"  out: "It nests runs and streams tokens."
// answer: It nests runs and streams tokens.
