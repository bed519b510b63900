/**
 * The callscope the benchmarks measure: by default the built package (`dist/index.cjs`), which is what users
 * run; with `CALLSCOPE_BENCH_SOURCE=lib`, the TypeScript sources through tsx (the smoke test uses that, so it
 * needs no build). tsx's on-the-fly output measured up to twice as slow as the build on the token loop, so
 * recorded results always come from the build: `npm run bench` builds first.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as Callscope from '../lib';
import type * as CallscopeAnthropic from '../lib/anthropic';
import type * as CallscopeOpenAI from '../lib/openai';

const fromSource = process.env.CALLSCOPE_BENCH_SOURCE === 'lib';
const built = path.join(__dirname, '..', 'dist', 'index.cjs');
if (!fromSource && !existsSync(built)) {
  throw new Error('bench: dist/index.cjs is missing. Run `npm run build` first (`npm run bench` does), or set CALLSCOPE_BENCH_SOURCE=lib.');
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the target is chosen at run time, see above
const callscope = require(fromSource ? '../lib' : built) as typeof Callscope;

/** What is being measured, for the report. */
export const measuredBuild = fromSource ? '`lib/` (TypeScript sources compiled on the fly by tsx)' : '`dist/index.cjs` (the built package, as users run it)';

export const { AsyncCallbackHandler, BaseCallbackHandler, configure, FakeChatModel, JsonlTracer, RunnableLambda, RunnableParallel, traceable } = callscope;

/** The SDK wrappers from the same build: `callscope/anthropic` and `callscope/openai`. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
export const { wrapAnthropic } = require(fromSource ? '../lib/anthropic' : path.join(__dirname, '..', 'dist', 'anthropic.cjs')) as typeof CallscopeAnthropic;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
export const { wrapOpenAI } = require(fromSource ? '../lib/openai' : path.join(__dirname, '..', 'dist', 'openai.cjs')) as typeof CallscopeOpenAI;

/** Whether the benchmarks run the TypeScript sources (`CALLSCOPE_BENCH_SOURCE=lib`) rather than the build. */
export const benchFromSource = fromSource;
