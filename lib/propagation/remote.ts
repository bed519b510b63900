import { backgroundFlushed } from '../callbacks/delivery';
import type { CallbackManager } from '../callbacks/callback-manager';

/**
 * A run in another process that local runs were started under: what `extractRunContext` read from a
 * request's headers. Carried by the `CallbackManager` it returns, never by a local run.
 *
 * @internal
 */
export interface RemoteParent {
  /** The caller's run id, from `baggage`. */
  readonly runId: string;
  /** The caller's OpenTelemetry span context, from `traceparent`, when it sent a valid one. */
  readonly spanContext: unknown;
}

// Local runs whose parent is remote, by run id, from their start until their tree's background events have
// been delivered: tracers read it at the start event to keep such a run a root, whatever its parent id.
const remoteRuns = new Map<string, RemoteParent>();

/**
 * Records that local run `runId` was started under `remote`, for tracers to read with
 * {@link remoteParentOfRun}.
 *
 * @returns the function to call when the run has ended; the entry goes once the run tree's background
 *   events (a tracer's start event among them) have been delivered.
 * @internal
 */
export function rememberRemoteRun(runId: string, remote: RemoteParent): () => void {
  remoteRuns.set(runId, remote);
  return () => {
    void backgroundFlushed(runId).then(() => remoteRuns.delete(runId));
  };
}

/**
 * The remote parent of local run `runId`, when its parent run is in another process (it was started with a
 * config from `extractRunContext`): such a run is a root here, whatever run id the caller sent.
 *
 * @internal
 */
export function remoteParentOfRun(runId: string): RemoteParent | undefined {
  return remoteRuns.get(runId);
}

/**
 * Marks `manager` as naming a run in another process: runs started with it are roots here that record
 * `remote` as their parent. For `extractRunContext`.
 *
 * @internal
 */
export function markRemote(manager: CallbackManager, remote: RemoteParent): void {
  manager._remote = remote;
}
