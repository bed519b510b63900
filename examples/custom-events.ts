/**
 * Custom events: code inside a run reports progress with `dispatchCustomEvent(name, data)`. The event goes to
 * the handlers of the current run, found through context, or through the `config` you pass (which works in
 * every propagation mode). Outside any run it throws NoActiveRunError instead of being lost.
 *
 * Run it with `npx tsx examples/custom-events.ts`.
 */
import { BaseCallbackHandler, NoActiveRunError, RunnableLambda, dispatchCustomEvent } from '../lib';

class ProgressPrinter extends BaseCallbackHandler {
  override handleCustomEvent(eventName: string, data: unknown, _runId: string, tags?: string[]): void {
    console.log(`${eventName}: ${JSON.stringify(data)} tags=${JSON.stringify(tags)}`);
  }
}

const index = RunnableLambda.from(
  async (documents: string[], config) => {
    for (const [i, document] of documents.entries()) {
      // Without a config: the event finds the current run through context.
      await dispatchCustomEvent('indexing', { document, done: i + 1, of: documents.length });
    }
    // With the config the function received: the same, and it also works in the 'explicit' mode.
    await dispatchCustomEvent('indexed', { count: documents.length }, config);
    return documents.length;
  },
  { name: 'index' },
);

async function main(): Promise<void> {
  const count = await index.invoke(['a.md', 'b.md'], { callbacks: [new ProgressPrinter()], tags: ['batch-7'] });
  console.log(`Indexed ${count} documents`);

  try {
    await dispatchCustomEvent('orphan', {});
  } catch (error) {
    if (!(error instanceof NoActiveRunError)) throw error;
    console.log(`${error.name} (${error.code})`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// indexing: {"document":"a.md","done":1,"of":2} tags=["batch-7"]
// indexing: {"document":"b.md","done":2,"of":2} tags=["batch-7"]
// indexed: {"count":2} tags=["batch-7"]
// Indexed 2 documents
// NoActiveRunError (NO_ACTIVE_RUN)
