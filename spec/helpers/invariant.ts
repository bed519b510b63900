import { BaseCallbackHandler, type CallbackHandlerOptions } from '../../lib';

type Phase = 'start' | 'middle' | 'end';

interface RunRecord {
  name: string;
  parentRunId: string | undefined;
  starts: number;
  ends: number;
  startAt: number;
  endAt: number | undefined;
  lateEvents: number;
}

/**
 * A handler that checks the run invariant on every event it receives: exactly one start, then tokens and
 * custom events, then exactly one end or error; children start after their parent's start and end before
 * their parent's end; nothing after the end. `violations()` lists what went wrong (empty when all held),
 * `open()` the runs that never ended.
 */
export class InvariantChecker extends BaseCallbackHandler {
  readonly runs = new Map<string, RunRecord>();
  private readonly problems: string[] = [];
  private clock = 0;

  constructor(options?: CallbackHandlerOptions) {
    super(options);
  }

  violations(): string[] {
    return [...this.problems];
  }

  open(): string[] {
    return [...this.runs.entries()].filter(([, run]) => run.ends === 0).map(([id, run]) => `${run.name} (${id})`);
  }

  ended(): number {
    return [...this.runs.values()].filter((run) => run.ends === 1).length;
  }

  private event(phase: Phase, runId: string, parentRunId?: string, name?: string): void {
    const now = this.clock++;
    const run = this.runs.get(runId);
    if (phase === 'start') {
      if (run !== undefined) {
        this.problems.push(`${run.name}: started twice`);
        return;
      }
      this.runs.set(runId, { name: name ?? '?', parentRunId, starts: 1, ends: 0, startAt: now, endAt: undefined, lateEvents: 0 });
      const parent = parentRunId === undefined ? undefined : this.runs.get(parentRunId);
      if (parent?.endAt !== undefined) this.problems.push(`${name ?? '?'}: started after its parent ${parent.name} ended`);
      return;
    }
    if (run === undefined) {
      this.problems.push(`${phase} event for a run that never started (${runId})`);
      return;
    }
    if (run.endAt !== undefined) {
      this.problems.push(`${run.name}: ${phase === 'end' ? 'ended twice' : 'event after its end'}`);
      return;
    }
    if (phase === 'end') {
      run.ends++;
      run.endAt = now;
      for (const [, other] of this.runs) {
        if (other.parentRunId === runId && other.endAt === undefined) this.problems.push(`${run.name}: ended before its child ${other.name}`);
      }
    }
  }

  override handleChainStart(_s: unknown, _i: unknown, runId: string, parentRunId?: string, _t?: string[], _m?: unknown, _rt?: string, name?: string) {
    this.event('start', runId, parentRunId, name);
  }
  override handleToolStart(_s: unknown, _i: string, runId: string, parentRunId?: string, _t?: string[], _m?: unknown, name?: string) {
    this.event('start', runId, parentRunId, name);
  }
  override handleChatModelStart(_s: unknown, _m: unknown, runId: string, parentRunId?: string, _e?: unknown, _t?: string[], _md?: unknown, name?: string) {
    this.event('start', runId, parentRunId, name);
  }
  override handleRetrieverStart(_s: unknown, _q: string, runId: string, parentRunId?: string, _t?: string[], _m?: unknown, name?: string) {
    this.event('start', runId, parentRunId, name);
  }
  override handleRetrieverEnd(_d: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleRetrieverError(_e: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleLLMNewToken(_token: string, _idx: unknown, runId: string) {
    this.event('middle', runId);
  }
  override handleCustomEvent(_name: string, _data: unknown, runId: string) {
    this.event('middle', runId);
  }
  override handleChainEnd(_o: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleChainError(_e: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleToolEnd(_o: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleToolError(_e: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleLLMEnd(_o: unknown, runId: string) {
    this.event('end', runId);
  }
  override handleLLMError(_e: unknown, runId: string) {
    this.event('end', runId);
  }
}
