/**
 * Seeing your runs: a LiveViewer shows runs in a browser as they happen, and a JsonlTracer file becomes a
 * self-contained page with `npx callscope view runs.jsonl`.
 *
 * Run it with `npx tsx examples/viewer.ts`; add `--keep` to leave the viewer open (Ctrl-C to stop) and
 * open the address it prints.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FakeChatModel, JsonlTracer, RunnableLambda, RunnableSequence, tool } from '../lib';
import { LiveViewer } from '../lib/viewer';

const model = new FakeChatModel({ responses: ['Sunny, 24 degrees'], streaming: true, tokenDelayMs: 5 });
const weather = tool(async ({ city }) => (await model.invoke(`Weather in ${city}?`)).content, {
  name: 'weather',
  description: 'Weather forecast for a city',
  schema: z.object({ city: z.string() }),
});
const plan = RunnableLambda.from(async (city: string) => `Pack for: ${await weather.invoke({ city })}`, { name: 'plan' });
const book = RunnableLambda.from((_plan: string): string => {
  throw new Error('no seats left');
}, { name: 'book' });
const trip = RunnableSequence.from<string, string>([plan, book], { name: 'trip' });

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  // Port 0: the system picks a free one. The viewer listens on 127.0.0.1 only.
  const viewer = new LiveViewer({ port: keep ? 7331 : 0 });
  await viewer.ready;
  console.log(`viewer on ${new URL(viewer.url as string).hostname}${keep ? `: open ${viewer.url}` : ''}`);

  const dir = mkdtempSync(join(tmpdir(), 'callscope-example-'));
  const file = join(dir, 'runs.jsonl');
  const jsonl = new JsonlTracer(file);
  for (const city of ['Lisbon', 'Porto', 'Faro']) {
    await trip.invoke(city, { callbacks: [viewer, jsonl], tags: [`city:${city.toLowerCase()}`] }).catch((error: unknown) => {
      console.log(`${city}: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
  await jsonl.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  console.log(`${lines.length} lines in runs.jsonl, format version ${(JSON.parse(lines[0] as string) as { v: number }).v}`);
  console.log(`turn them into a page with: npx callscope view ${keep ? file : 'runs.jsonl'} --out trace.html`);

  if (keep) {
    console.log('Ctrl-C to stop');
    process.once('SIGINT', () => void viewer.close());
  } else {
    await viewer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

// Prints:
// viewer on 127.0.0.1
// Lisbon: no seats left
// Porto: no seats left
// Faro: no seats left
// 15 lines in runs.jsonl, format version 1
// turn them into a page with: npx callscope view runs.jsonl --out trace.html
