import { LostCallbacksError } from '../errors';
import { emitWarning, isLibraryFrame } from '../platform';
import { getConfiguration } from '../settings';
import type { RunScope } from './config';

const warnedSites = new Set<string>();

/**
 * How a call that lost its parent's handlers was made, which decides the fix the diagnostics suggest:
 * `invoke(input, config)` for a runnable, `withConfig(config)` for a traceable function (called with its
 * own arguments, it has no config argument).
 */
export type LostCallStyle = 'runnable' | 'traceable';

/**
 * Called when a run is about to start as a root run while another run is being tracked (only the
 * `'explicit'` backend with `onLostCallbacks` on tracks runs it does not let children inherit). Reports
 * the loss if the tracked run has handlers that will not see the new run.
 *
 * @param childName - the run about to start as a root run.
 * @param parent - the tracked run it was called in.
 * @param style - how the child was called, for the fix named in the message.
 * @throws {@link LostCallbacksError} with `onLostCallbacks: 'throw'`.
 */
export function reportLostCallbacks(childName: string, parent: RunScope, style: LostCallStyle = 'runnable'): void {
  const handlers = parent.callbacks.handlerSet.handlers.length;
  if (handlers === 0) return;
  const policy = getConfiguration().onLostCallbacks;
  if (policy === 'ignore') return;
  const parentRunId = parent.callbacks.parentRunId ?? 'unknown';
  const parentName = parent._runName ?? 'unknown';
  const callSite = findCallSite();
  const lost = `so the ${handlers} handler${handlers === 1 ? '' : 's'} of that run will not see it: in 'explicit' propagation mode it starts a new root run.`;
  const message =
    (style === 'traceable'
      ? `Traceable function \`${childName}\` was called without \`config\` inside run \`${parentName}\` (${parentRunId}), ${lost} ` +
        'Fix: pass the config argument your function received through withConfig(), ' +
        `e.g. \`${childName}.withConfig(config)(...args)\` (\`traceable(fn).withConfig(config)\` is the same function, joined to that run).`
      : `Runnable \`${childName}\` was invoked without \`config\` inside run \`${parentName}\` (${parentRunId}), ${lost} ` +
        'Fix: pass the config argument your function received, ' +
        `e.g. \`${childName}.invoke(input, config)\`.`) + (callSite === undefined ? '' : ` Called at ${callSite}.`);
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
