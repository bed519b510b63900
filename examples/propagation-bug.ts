/**
 * The failure LangChain's docs warn about, reproduced and fixed. A tool calls a lambda, which calls a chat
 * model, and neither passes its `config` on. One handler is given at the top.
 *
 * - In the default 'async-local-storage' mode the handler sees the whole tree: context carries it.
 * - In the 'explicit' mode (what LangChain does where it has no implicit context) the handler sees only the
 *   tool: the lambda and the model still run, as root runs of their own without handlers, and nothing
 *   says so.
 * - Passing on the `config` each function receives restores the tree, in every mode.
 * - `onLostCallbacks: 'warn'` names the loss instead of keeping silent: which runnable, inside which run,
 *   called from where, and the fix.
 *
 * Run it with `npx tsx examples/propagation-bug.ts`.
 */
import { z } from 'zod';
import { configure, ConsoleTracer, FakeChatModel, RunCollector, RunnableLambda, tool, type CollectedRun, type PropagationMode } from '../lib';

const model = new FakeChatModel({ responses: ['Paris is the capital of France.'] });

// The pipeline as people write it first: nothing is passed on.
const answer = RunnableLambda.from(async (question: string) => (await model.invoke(question)).content, { name: 'answer' });
const lookup = tool(async ({ question }) => answer.invoke(question), {
  name: 'lookup',
  description: 'Answers a question about geography',
  schema: z.object({ question: z.string() }),
});

// The fix: each function passes on the config it received.
const answerFixed = RunnableLambda.from(async (question: string, config) => (await model.invoke(question, config)).content, {
  name: 'answer',
});
const lookupFixed = tool(async ({ question }, config) => answerFixed.invoke(question, config), {
  name: 'lookup',
  description: 'Answers a question about geography',
  schema: z.object({ question: z.string() }),
});

/** Runs `pipeline` in `mode` with one collector given at the top; returns what it answered and what the collector saw. */
async function runIn(pipeline: typeof lookup, mode: PropagationMode): Promise<{ output: string; tree: string[] }> {
  configure({ propagation: mode });
  const collector = new RunCollector();
  const output = await pipeline.invoke({ question: 'What is the capital of France?' }, { callbacks: [collector] });
  return { output, tree: collector.runs.flatMap((run) => render(run, 0)) };
}

function render(run: CollectedRun, depth: number): string[] {
  return [`${'  '.repeat(depth)}${run.type} ${run.name}`, ...run.children.flatMap((child) => render(child, depth + 1))];
}

function printColumns(left: string[], right: string[]): void {
  const width = Math.max(...left.map((line) => line.length)) + 4;
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    console.log(`${(left[i] ?? '').padEnd(width)}${right[i] ?? ''}`.trimEnd());
  }
}

async function main(): Promise<void> {
  try {
    console.log('tool -> lambda -> model, one RunCollector given at the top, config NOT passed on:');
    const implicit = await runIn(lookup, 'async-local-storage');
    const explicit = await runIn(lookup, 'explicit');
    printColumns(['async-local-storage', ...implicit.tree], ['explicit', ...explicit.tree]);
    // Nothing failed: the answer came back either way, so the missing runs go unnoticed.
    console.log(`Answers: ${JSON.stringify(implicit.output)} | ${JSON.stringify(explicit.output)}`);

    console.log('');
    console.log('The fix: the tool and the lambda pass on the config they received');
    const implicitFixed = await runIn(lookupFixed, 'async-local-storage');
    const explicitFixed = await runIn(lookupFixed, 'explicit');
    printColumns(['async-local-storage', ...implicitFixed.tree], ['explicit', ...explicitFixed.tree]);

    console.log('');
    console.log("The fixed pipeline in 'explicit' mode, as ConsoleTracer prints it:");
    await lookupFixed.invoke({ question: 'What is the capital of France?' }, { callbacks: [new ConsoleTracer({ timings: false })] });

    console.log('');
    console.log("Diagnostics: configure({ propagation: 'explicit', onLostCallbacks: 'warn' })");
    const warned: Promise<void> = new Promise((resolve) => {
      process.once('warning', (warning: Error & { code?: string }) => {
        // Node also prints the warning on stderr; here it is shown on stdout, with paths made relative and
        // the run id (new every time) masked.
        const message = warning.message.split(`${process.cwd()}/`).join('').replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/, '<run id>');
        console.log(`${warning.code}: ${message}`);
        resolve();
      });
    });
    configure({ propagation: 'explicit', onLostCallbacks: 'warn' });
    await lookup.invoke({ question: 'What is the capital of France?' }, { callbacks: [new RunCollector()] });
    await warned;
  } finally {
    configure({ onLostCallbacks: 'ignore' });
    configure({ propagation: 'async-local-storage' });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// tool -> lambda -> model, one RunCollector given at the top, config NOT passed on:
// async-local-storage      explicit
// tool lookup              tool lookup
//   chain answer
//     llm FakeChatModel
// Answers: "Paris is the capital of France." | "Paris is the capital of France."
//
// The fix: the tool and the lambda pass on the config they received
// async-local-storage      explicit
// tool lookup              tool lookup
//   chain answer             chain answer
//     llm FakeChatModel        llm FakeChatModel
//
// The fixed pipeline in 'explicit' mode, as ConsoleTracer prints it:
// tool lookup  in: {"question":"What is the capital of France?"}  out: "Paris is the capital of France."
// └─ chain answer  in: "What is the capital of France?"  out: "Paris is the capital of France."
//    └─ llm FakeChatModel  in: "What is the capital of France?"  out: "Paris is the capital of France."
//
// Diagnostics: configure({ propagation: 'explicit', onLostCallbacks: 'warn' })
// CALLSCOPE_LOST_CALLBACKS: Runnable `answer` was invoked without `config` inside run `lookup` (<run id>), so the 1 handler of that run will not see it: in 'explicit' propagation mode it starts a new root run. Fix: pass the config argument your function received, e.g. `answer.invoke(input, config)`. Called at examples/propagation-bug.ts:22:52.
