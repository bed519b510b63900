/**
 * A bounded first-in first-out buffer between producers (the runs, through the event handler) and one
 * consumer (the `for await` loop reading `streamEvents`). `push` accepts the item and, when the buffer is
 * full, returns a promise that resolves once the consumer has made room: the run awaits it, and a slow
 * consumer slows the run down instead of letting the buffer grow.
 *
 * Built for one item per streamed token: a ring of slots (no `Array.prototype.shift`, which moves every
 * waiting item), items handed over as they are (no iterator result per item), and one promise shared by
 * all the producers waiting for room.
 *
 * @internal
 */
export class BoundedChannel<T> {
  // A power of two, so that positions wrap with a mask. Several producers pushing past the bound (each then
  // waits) may need more than `capacity` slots: the ring grows.
  private slots: (T | undefined)[];
  private mask: number;
  private head = 0;
  private size = 0;
  private waitingConsumer: ((item: T | undefined) => void) | undefined = undefined;
  private room: Promise<void> | undefined = undefined;
  private releaseRoom: (() => void) | undefined = undefined;
  private closedFlag = false;

  /** @param capacity - how many items may wait for the consumer before `push` makes the producer wait. */
  constructor(readonly capacity: number) {
    let slots = 2;
    while (slots < capacity) slots *= 2;
    this.slots = new Array<T | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
  }

  /** Whether {@link BoundedChannel.close} was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** How many items wait for the consumer. */
  get length(): number {
    return this.size;
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
      consumer(item);
      return undefined;
    }
    if (this.size === this.slots.length) this.grow();
    this.slots[(this.head + this.size) & this.mask] = item;
    this.size++;
    if (this.size < this.capacity) return undefined;
    this.room ??= new Promise<void>((resolve) => {
      this.releaseRoom = resolve;
    });
    return this.room;
  }

  /**
   * The next item when one waits, else `undefined` (then see {@link BoundedChannel.closed} and
   * {@link BoundedChannel.wait}).
   */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const head = this.head;
    const item = this.slots[head];
    this.slots[head] = undefined;
    this.head = (head + 1) & this.mask;
    this.size--;
    // Producers wake once half the buffer is free, not on every read: one wake-up per many items, and the
    // consumer still has half a buffer to read while the producers resume.
    if (this.room !== undefined && this.size <= this.capacity >> 1) this.release();
    return item;
  }

  /**
   * Waits for the next item, when none waits and the channel is open (one consumer at a time).
   * @returns the item, or `undefined` once the channel closed.
   */
  wait(): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve) => {
      this.waitingConsumer = resolve;
    });
  }

  /**
   * No more items: waiting producers are released, later pushes dropped, a waiting consumer told the end.
   * @param discard - drop the items not read yet too (the consumer went away).
   */
  close(discard = false): void {
    this.closedFlag = true;
    if (discard) {
      this.slots.fill(undefined);
      this.head = 0;
      this.size = 0;
    }
    this.release();
    const consumer = this.waitingConsumer;
    if (consumer !== undefined && this.size === 0) {
      this.waitingConsumer = undefined;
      consumer(undefined);
    }
  }

  private release(): void {
    const release = this.releaseRoom;
    this.room = undefined;
    this.releaseRoom = undefined;
    release?.();
  }

  private grow(): void {
    const old = this.slots;
    const slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.size; i++) slots[i] = old[(this.head + i) & this.mask];
    this.slots = slots;
    this.mask = slots.length - 1;
    this.head = 0;
  }
}
