/**
 * A bounded first-in first-out buffer between one producer (the runs, through the event handler) and one
 * consumer (the `for await` loop reading `streamEvents`). `push` accepts the item and, when the buffer is
 * full, returns a promise that resolves once the consumer has made room: the handler returns it, the run
 * awaits it, and a slow consumer slows the run down instead of letting the buffer grow.
 *
 * @internal
 */
export class BoundedChannel<T> {
  private readonly items: T[] = [];
  private waitingConsumer: ((result: IteratorResult<T, undefined>) => void) | undefined = undefined;
  private waitingProducers: (() => void)[] = [];
  private closedFlag = false;

  /** @param capacity - how many items may wait for the consumer before `push` makes the producer wait. */
  constructor(readonly capacity: number) {}

  /** Whether {@link BoundedChannel.close} was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Adds an item (dropped once closed).
   * @returns `undefined` when there is room left, otherwise a promise resolved when there is.
   */
  push(item: T): Promise<void> | undefined {
    if (this.closedFlag) return undefined;
    const consumer = this.waitingConsumer;
    if (consumer !== undefined) {
      this.waitingConsumer = undefined;
      consumer({ value: item, done: false });
      return undefined;
    }
    this.items.push(item);
    if (this.items.length < this.capacity) return undefined;
    return new Promise<void>((resolve) => this.waitingProducers.push(resolve));
  }

  /** The next item, waiting for one; `done` once closed and drained. */
  next(): Promise<IteratorResult<T, undefined>> | IteratorResult<T, undefined> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      // Producers wake once half the buffer is free, not on every read: one wake-up per many events.
      if (this.waitingProducers.length > 0 && this.items.length <= this.capacity >> 1) this.releaseProducers();
      return { value, done: false };
    }
    if (this.closedFlag) return { value: undefined, done: true };
    return new Promise((resolve) => {
      this.waitingConsumer = resolve;
    });
  }

  /**
   * No more items: waiting producers are released, later pushes dropped, a waiting consumer told `done`.
   * @param discard - drop the items not read yet too (the consumer went away).
   */
  close(discard = false): void {
    this.closedFlag = true;
    if (discard) this.items.length = 0;
    this.releaseProducers();
    const consumer = this.waitingConsumer;
    if (consumer !== undefined && this.items.length === 0) {
      this.waitingConsumer = undefined;
      consumer({ value: undefined, done: true });
    }
  }

  private releaseProducers(): void {
    const producers = this.waitingProducers;
    this.waitingProducers = [];
    for (const resolve of producers) resolve();
  }
}
