import type { CallbackHandler } from '../callbacks/handler';
import { requireOptional } from './optional-require';

// The variables LangChain.js reads to turn LangSmith tracing on (`isTracingEnabled`).
const TRACING_VARIABLES = ['LANGSMITH_TRACING_V2', 'LANGCHAIN_TRACING_V2', 'LANGSMITH_TRACING', 'LANGCHAIN_TRACING'] as const;

interface LangSmithTracer extends CallbackHandler {
  readonly client: { awaitPendingTraceBatches(): Promise<void> };
}

// Decided once, at the first root run: reading `process.env` on every root run would cost the hot path.
let decided = false;
let tracer: LangSmithTracer | undefined;

function tracingRequested(): boolean {
  // `process` is Node's (and Bun's, Deno's compat); other runtimes have no environment to read.
  const env = typeof process === 'undefined' ? undefined : (process.env as Record<string, string | undefined> | undefined);
  if (env === undefined) return false;
  return TRACING_VARIABLES.some((name) => env[name] === 'true');
}

/**
 * LangSmith's `LangChainTracer`, when `LANGSMITH_TRACING=true` (or `LANGCHAIN_TRACING_V2=true`, as LangChain
 * reads them) and `@langchain/core` (with `langsmith`) is installed: callscope then traces every root run to
 * LangSmith, as LangChain does, with no code change. Neither package is loaded otherwise. When tracing is
 * requested but `@langchain/core` is missing, one warning says so and tracing stays off.
 *
 * @returns the tracer, or `undefined` when tracing is off.
 */
export function environmentTracer(): CallbackHandler | undefined {
  if (decided) return tracer;
  decided = true;
  if (!tracingRequested()) return undefined;
  try {
    const module = requireOptional<{ LangChainTracer: new () => LangSmithTracer }>('@langchain/core/tracers/tracer_langchain', 'LANGSMITH_TRACING');
    tracer = new module.LangChainTracer();
  } catch (error) {
    console.warn(`[callscope] ${error instanceof Error ? error.message : String(error)} Tracing to LangSmith is off.`);
  }
  return tracer;
}

/**
 * Waits until the runs traced through {@link environmentTracer} have been sent to LangSmith.
 *
 * @returns a promise that resolves at once when tracing is off.
 */
export async function flushEnvironmentTracer(): Promise<void> {
  if (tracer !== undefined) await tracer.client.awaitPendingTraceBatches();
}
