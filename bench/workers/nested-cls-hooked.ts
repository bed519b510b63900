/**
 * nested-3 in 'cls-hooked' mode, in a process of its own: switching to cls-hooked loads it, and its global
 * async hook slows every promise in the process from then on, which would skew every other measurement.
 * The floor is timed here too, under the same hook, for an in-process ratio.
 */
import { interleave, type Measurement } from '../harness/interleave';
import { runAsWorker } from '../harness/worker';
import { callscopeNestedContender } from '../pipelines/callscope';
import { floorNestedContender } from '../pipelines/floor';
import type { RoundBudget } from '../settings';

/** What the parent passes. */
export interface NestedClsHookedInput {
  readonly budget: RoundBudget;
  readonly opsPerSample: number;
}

/** What the worker reports. */
export interface NestedClsHookedResult {
  readonly ours: Measurement;
  readonly floor: Measurement;
}

const CLS_HOOKED_NAME = 'callscope (cls-hooked)';
const HOOKED_FLOOR_NAME = 'floor (under the cls-hooked hook)';

async function main({ budget, opsPerSample }: NestedClsHookedInput): Promise<NestedClsHookedResult> {
  const ours = await callscopeNestedContender({ depth: 3, mode: 'cls-hooked', opsPerSample, name: CLS_HOOKED_NAME });
  const floor = await floorNestedContender(3, opsPerSample, HOOKED_FLOOR_NAME);
  const results = await interleave([ours, floor], budget);
  const pick = (name: string): Measurement => {
    const measurement = results.get(name);
    if (measurement === undefined) throw new Error(`No measurement for ${name}.`);
    return measurement;
  };
  return { ours: pick(CLS_HOOKED_NAME), floor: pick(HOOKED_FLOOR_NAME) };
}

runAsWorker(main);
