import { z } from 'zod';
import {
  FakeChatModel,
  JsonlTracer,
  RunnableLambda,
  RunnableSequence,
  dispatchCustomEvent,
  tool,
  type Callbacks,
} from '../../lib';

// Real callscope runs for the viewer's specs, written by a real JsonlTracer: no hand-made lines.

/**
 * A trip planner: `trip` runs `plan` (which calls the `weather` tool, which streams a FakeChatModel
 * answer, and the `hotels` tool concurrently) then `book`, which fails with "no seats left".
 */
export function tripPlanner(): RunnableSequence<string, string> {
  const model = new FakeChatModel({ responses: ['Sunny, 24 degrees in Lisbon'], streaming: true, tokenDelayMs: 1 });
  const weather = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
    name: 'weather',
    description: 'Weather forecast for a city',
    schema: z.object({ city: z.string() }),
  });
  const hotels = tool(async ({ city }) => `3 hotels in ${city}`, {
    name: 'hotels',
    description: 'Hotels in a city',
    schema: z.object({ city: z.string() }),
  });
  const plan = RunnableLambda.from(
    async (city: string) => {
      await dispatchCustomEvent('progress', { step: 'plan' });
      // Both tools run at once; hotels starts a little later and ends first, so a viewer that ordered
      // siblings by end (the order of the JSONL lines) instead of start would show it first.
      const forecast = weather.invoke({ city });
      await new Promise((resolve) => setTimeout(resolve, 2));
      const [stay] = await Promise.all([hotels.invoke({ city }), forecast]);
      return `Pack for: ${await forecast}; ${stay}`;
    },
    { name: 'plan' },
  );
  const book = RunnableLambda.from((_plan: string): string => {
    throw new Error('no seats left');
  }, { name: 'book' });
  return RunnableSequence.from<string, string>([plan, book], { name: 'trip' });
}

/** Runs the trip planner once (it fails, as planned) with `callbacks`. */
export async function runTrip(callbacks: Callbacks, city = 'Lisbon'): Promise<void> {
  await tripPlanner()
    .invoke(city, { callbacks, tags: ['trip', `city:${city.toLowerCase()}`], metadata: { user: 'ada' } })
    .catch((error: unknown) => {
      if (!(error instanceof Error) || error.message !== 'no seats left') throw error;
    });
}

/** Writes the runs of one failing trip to `file` (7 lines). */
export async function writeTripRuns(file: string): Promise<void> {
  const tracer = new JsonlTracer(file);
  await runTrip([tracer]);
  await tracer.close();
}

/**
 * Writes `roots` small trees to `file`: a chain `job-<i>` with a child lambda `step` and, every tenth, a
 * failing `flaky` step; `roots * 2` runs and a bit more. Small runs, so thousands take a second.
 */
export async function writeManyRuns(file: string, roots: number): Promise<void> {
  const tracer = new JsonlTracer(file);
  const step = RunnableLambda.from((n: number) => n * 2, { name: 'step' });
  const flaky = RunnableLambda.from((n: number): number => {
    throw new RangeError(`flaky ${n}`);
  }, { name: 'flaky' });
  for (let i = 0; i < roots; i++) {
    const job = RunnableLambda.from(
      async (n: number) => {
        const doubled = await step.invoke(n);
        return i % 10 === 9 ? flaky.invoke(doubled).catch(() => doubled) : doubled;
      },
      { name: `job-${i}` },
    );
    await job.invoke(i, { callbacks: [tracer], tags: [i % 2 === 0 ? 'even' : 'odd'] });
  }
  await tracer.close();
}
