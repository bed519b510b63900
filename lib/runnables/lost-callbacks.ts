import { LostCallbacksError } from '../errors';
import { emitWarning, isLibraryFrame } from '../platform';
import { getConfiguration } from '../settings';
import type { RunScope } from './config';

const warnedSites = new Set<string>();

/**
 * Called when a run is about to start as a root run while another run is being tracked (only the
 * `'explicit'` backend with `onLostCallbacks` on tracks runs it does not let children inherit). Reports
 * the loss if the tracked run has handlers that will not see the new run.
 *
 * @throws {@link LostCallbacksError} with `onLostCallbacks: 'throw'`.
 */
export function reportLostCallbacks(childName: string, parent: RunScope): void {
  const handlers = parent.callbacks.handlerSet.handlers.length;
  if (handlers === 0) return;
  const policy = getConfiguration().onLostCallbacks;
  if (policy === 'ignore') return;
  const parentRunId = parent.callbacks.parentRunId ?? 'unknown';
  const parentName = parent._runName ?? 'unknown';
  const callSite = findCallSite();
  const message =
    `Runnable \`${childName}\` was invoked without \`config\` inside run \`${parentName}\` (${parentRunId}), ` +
    `so the ${handlers} handler${handlers === 1 ? '' : 's'} of that run will not see it: in 'explicit' propagation mode ` +
    'it starts a new root run. Fix: pass the config argument your function received, ' +
    `e.g. \`${childName}.invoke(input, config)\`.` +
    (callSite === undefined ? '' : ` Called at ${callSite}.`);
  if (policy === 'throw') throw new LostCallbacksError({ childName, parentName, parentRunId, callSite, message });
  const key = callSite ?? `${parentName}>${childName}`;
  if (warnedSites.has(key)) return;
  warnedSites.add(key);
  emitWarning(message, 'CALLSCOPE_LOST_CALLBACKS');
}

function findCallSite(): string | undefined {
  const stack = new Error().stack ?? '';
  for (const line of stack.split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?[^()\s]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (match === null) continue;
    const file = (match[1] ?? '').replace(/^file:\/\//, '');
    // Frames inside the runtime, a dependency or callscope itself are skipped: the caller's line is wanted.
    if (isLibraryFrame(file)) continue;
    return `${file}:${match[2]}:${match[3]}`;
  }
  return undefined;
}
