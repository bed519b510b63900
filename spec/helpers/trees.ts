import { BaseCallbackHandler, type CollectedRun } from '../../lib';

/** A collected run reduced to what tests compare: type, name and children, recursively. */
export interface Shape {
  type: string;
  name: string;
  children: Shape[];
}

export function shapeOf(run: CollectedRun): Shape {
  return { type: run.type, name: run.name, children: run.children.map(shapeOf) };
}

/** Asserts that every child's parentRunId is its parent's id, all the way down. */
export function expectLinked(run: CollectedRun): void {
  for (const child of run.children) {
    if (child.parentRunId !== run.id) {
      throw new Error(`run ${child.name} has parent ${child.parentRunId}, expected ${run.name} (${run.id})`);
    }
    expectLinked(child);
  }
}

export interface RecordedEvent {
  readonly method: string;
  readonly args: unknown[];
}

/**
 * Records every event it receives, in order, with its arguments. Defines every handler method, so it
 * listens to everything.
 */
export class EventRecorder extends BaseCallbackHandler {
  readonly events: RecordedEvent[] = [];

  private record(method: string, args: unknown[]): void {
    this.events.push({ method, args });
  }

  methods(): string[] {
    return this.events.map((event) => event.method);
  }

  override handleChainStart(...args: unknown[]): void {
    this.record('handleChainStart', args);
  }
  override handleChainEnd(...args: unknown[]): void {
    this.record('handleChainEnd', args);
  }
  override handleChainError(...args: unknown[]): void {
    this.record('handleChainError', args);
  }
  override handleChatModelStart(...args: unknown[]): void {
    this.record('handleChatModelStart', args);
  }
  override handleLLMNewToken(...args: unknown[]): void {
    this.record('handleLLMNewToken', args);
  }
  override handleLLMEnd(...args: unknown[]): void {
    this.record('handleLLMEnd', args);
  }
  override handleLLMError(...args: unknown[]): void {
    this.record('handleLLMError', args);
  }
  override handleToolStart(...args: unknown[]): void {
    this.record('handleToolStart', args);
  }
  override handleToolEnd(...args: unknown[]): void {
    this.record('handleToolEnd', args);
  }
  override handleToolError(...args: unknown[]): void {
    this.record('handleToolError', args);
  }
  override handleCustomEvent(...args: unknown[]): void {
    this.record('handleCustomEvent', args);
  }
  override handleRetrieverStart(...args: unknown[]): void {
    this.record('handleRetrieverStart', args);
  }
  override handleRetrieverEnd(...args: unknown[]): void {
    this.record('handleRetrieverEnd', args);
  }
  override handleRetrieverError(...args: unknown[]): void {
    this.record('handleRetrieverError', args);
  }
}

/** Resolves after `ms` milliseconds, through a timer. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
