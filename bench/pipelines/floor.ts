/* eslint-disable @typescript-eslint/require-await -- the workloads are async functions on purpose, as in
   user code: each call creates the promise whose context propagation is what the benchmark measures. */
/**
 * The floor: hand-written code doing only the work callback propagation cannot avoid. Per level, one
 * AsyncLocalStorage `run`, one UUIDv7 (see {@link FloorIds}), and direct calls of the handler's start and end methods with the
 * parent's id; nothing is validated, merged or looked up. And the bare pipeline: the same nested async
 * functions with no callbacks at all.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { v7 as uuidv7 } from 'uuid';
import { newRunId } from '../../lib/internal/run-id';
import { repeat, type Contender } from '../harness/interleave';
import { expectCount } from '../harness/verify';

/** The handler methods the floor calls, in LangChain's argument order. */
export interface FloorHandler {
  handleChainStart(serialized: unknown, inputs: Record<string, unknown>, runId: string, parentRunId?: string): void;
  handleChainEnd(outputs: Record<string, unknown>, runId: string, parentRunId?: string): void;
}

/** Counts chain start and end events, like the callscope and LangChain counting handlers. */
export class FloorCountingHandler implements FloorHandler {
  events = 0;

  handleChainStart(): void {
    this.events++;
  }

  handleChainEnd(): void {
    this.events++;
  }
}

interface FloorRun {
  readonly id: string;
  readonly handler: FloorHandler;
}

const storage = new AsyncLocalStorage<FloorRun>();
const SERIALIZED = Object.freeze({ lc: 1, type: 'not_implemented', id: Object.freeze(['floor', 'level']) });

/** A function the floor runs as one level of the tree. */
export type FloorBody = (input: number) => Promise<number>;

/**
 * Runs `body` as a child of the active run with the active run's handler, or as a root run reporting to
 * `handler` when no run is active.
 */
/**
 * How the floor makes its run ids: `uuid`'s `v7()` (the floor the targets were set against, as a user would
 * write it), or callscope's own UUIDv7 generator (about 470 ns cheaper an id: the strict floor, where ids
 * cost what they cost callscope and every other difference is callscope's own per-run work).
 */
export type FloorIds = 'uuid' | 'callscope';

const ID_MAKERS: Readonly<Record<FloorIds, () => string>> = { uuid: () => uuidv7(), callscope: newRunId };

async function level(body: FloorBody, input: number, newId: () => string, handler?: FloorHandler): Promise<number> {
  const parent = storage.getStore();
  const target = parent?.handler ?? handler;
  if (target === undefined) return body(input);
  const id = newId();
  target.handleChainStart(SERIALIZED, { input }, id, parent?.id);
  const output = await storage.run({ id, handler: target }, body, input);
  target.handleChainEnd({ output }, id, parent?.id);
  return output;
}

/** The floor of nested-3 (or any depth): `invoke(input, handler)` runs the chain reporting to `handler`. */
export function floorNestedChain(depth: number, ids: FloorIds = 'uuid'): (input: number, handler: FloorHandler) => Promise<number> {
  const newId = ID_MAKERS[ids];
  let body: FloorBody = async (x) => x + 1;
  for (let depthLeft = depth - 1; depthLeft > 0; depthLeft--) {
    const inner = body;
    body = async (x) => level(inner, x, newId);
  }
  const top = body;
  return (input, handler) => level(top, input, newId, handler);
}

/** The floor of fan-out: one level invoking `width` child levels with `Promise.all`. */
export function floorFanOut(width: number): (input: number, handler: FloorHandler) => Promise<number> {
  const children = Array.from({ length: width }, (_, index): FloorBody => async (x) => x + index);
  const newId = ID_MAKERS.uuid;
  const body: FloorBody = async (x) => (await Promise.all(children.map((child) => level(child, x, newId)))).length;
  return (input, handler) => level(body, input, newId, handler);
}

/** Three (or `depth`) bare nested async functions: what the pipeline costs with no callbacks at all. */
export function bareNestedChain(depth: number): (input: number) => Promise<number> {
  let fn = async (x: number): Promise<number> => x + 1;
  for (let level = depth - 1; level > 0; level--) {
    const inner = fn;
    fn = async (x: number): Promise<number> => inner(x);
  }
  return fn;
}

/**
 * The floor of a nested chain with a counting handler, verified (every event delivered when the call
 * resolves) and ready to time.
 *
 * @throws {Error} when the verification fails.
 */
export async function floorNestedContender(depth: number, opsPerSample: number, name = 'floor', ids: FloorIds = 'uuid'): Promise<Contender> {
  const chain = floorNestedChain(depth, ids);
  const check = new FloorCountingHandler();
  expectCount(`${name} nested-${depth}: output`, await chain(1, check), 2);
  expectCount(`${name} nested-${depth}: events received when the call resolved`, check.events, 2 * depth);
  const handler = new FloorCountingHandler();
  return { name, opsPerSample, sample: repeat(opsPerSample, () => chain(1, handler)) };
}
