/**
 * Tools: a zod schema validates every input before the tool body runs; a bad input is reported to handlers
 * and rejected with a ToolInputError that names every failing path. `withCallbacks` binds a handler to a
 * tool, so it sees the tool's runs and everything nested inside them, wherever the tool is called from.
 *
 * Run it with `npx tsx examples/tools.ts`.
 */
import { z } from 'zod';
import { BaseCallbackHandler, FakeChatModel, RunnableLambda, ToolInputError, tool, withCallbacks, type Serialized } from '../lib';

/** Prints the events of tools and of the runs nested inside them. */
class ToolAudit extends BaseCallbackHandler {
  override handleToolStart(serialized: Serialized, input: string): void {
    // LangChain hands tool handlers the input as a string: objects arrive JSON-stringified.
    console.log(`[audit] tool ${serialized.id.at(-1)} started with ${input}`);
  }

  override handleToolEnd(output: unknown): void {
    console.log(`[audit] tool ended with ${JSON.stringify(output)}`);
  }

  override handleToolError(error: unknown): void {
    console.log(`[audit] tool failed: ${error instanceof Error ? error.name : String(error)}`);
  }

  override handleChatModelStart(serialized: Serialized): void {
    console.log(`[audit]   nested model ${serialized.id.at(-1)} started`);
  }
}

const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'] });

const weather = tool(async ({ city, days }) => (await model.invoke(`Weather in ${city} for ${days} days`)).content, {
  name: 'weather',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string().min(1), days: z.number().int().min(1).max(7) }),
});

// The bound tool keeps its name, description and schema.
const audited = withCallbacks(weather, [new ToolAudit()]);

// A caller that knows nothing about the audit handler.
const planTrip = RunnableLambda.from(async (city: string) => `Pack for: ${await audited.invoke({ city, days: 3 })}`, {
  name: 'planTrip',
});

async function main(): Promise<void> {
  console.log(`${audited.name}: ${audited.description}`);
  console.log(await planTrip.invoke('Lisbon'));

  try {
    await audited.invoke({ city: '', days: 30 });
  } catch (error) {
    if (!(error instanceof ToolInputError)) throw error;
    console.log(`${error.name} (${error.code}) for tool ${error.toolName}:`);
    for (const issue of error.issues) console.log(`  ${issue.path.join('.')}: ${issue.message}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// weather: Weather forecast for a city
// [audit] tool weather started with {"city":"Lisbon","days":3}
// [audit]   nested model FakeChatModel started
// [audit] tool ended with "Sunny, 24 degrees"
// Pack for: Sunny, 24 degrees
// [audit] tool weather started with {"city":"","days":30}
// [audit] tool failed: ToolInputError
// ToolInputError (TOOL_INPUT_INVALID) for tool weather:
//   city: Too small: expected string to have >=1 characters
//   days: Too big: expected number to be <=7
