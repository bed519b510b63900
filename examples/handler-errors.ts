/**
 * Handler errors: a handler that throws never changes a run's result. callscope reports the failure (by
 * default with one console.warn per handler and event name; here through `onHandlerError`, to show what a
 * report holds) and calls the remaining handlers. A handler created with `raiseError: true` fails the run
 * with its error instead.
 *
 * Run it with `npx tsx examples/handler-errors.ts`.
 */
import { BaseCallbackHandler, configure, RunnableLambda } from '../lib';

class FlakyHandler extends BaseCallbackHandler {
  override handleChainStart(): void {
    throw new Error('tracing backend unreachable');
  }
}

class Logger extends BaseCallbackHandler {
  override handleChainEnd(outputs: Record<string, unknown>): void {
    console.log(`Logger still called: ${JSON.stringify(outputs)}`);
  }
}

const double = RunnableLambda.from((n: number) => n * 2, { name: 'double' });

async function main(): Promise<void> {
  configure({
    onHandlerError: ({ handlerName, event, error }) => {
      console.log(`Reported: ${handlerName} threw in ${event}: ${error instanceof Error ? error.message : String(error)}`);
    },
  });
  try {
    console.log(`Result: ${await double.invoke(21, { callbacks: [new FlakyHandler(), new Logger()] })}`);

    try {
      await double.invoke(21, { callbacks: [new FlakyHandler({ raiseError: true })] });
    } catch (error) {
      console.log(`With raiseError the run fails: ${error instanceof Error ? error.message : String(error)}`);
    }
  } finally {
    configure({ onHandlerError: undefined });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// Reported: FlakyHandler threw in handleChainStart: tracing backend unreachable
// Logger still called: {"output":42}
// Result: 42
// With raiseError the run fails: tracing backend unreachable
