import { randomHex } from '../platform';

/**
 * UUIDv7 run ids (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids made in the same
 * millisecond in order, then 62 random bits.
 *
 * Written here rather than taken from `uuid`'s `v7()` because the profile of a nested invoke showed `v7()`
 * at about 470 ns an id, a third of the whole run's cost: it copies 16 random bytes out of a 256-byte pool
 * (refilled every 16 ids) and builds the string from 16 lookups plus a lower-casing. Here the random part
 * comes from a pool kept as hex text, the time part is formatted once per millisecond, and an id is a
 * handful of concatenations. `uuid` still validates ids given by users.
 */

const POOL_BYTES = 16 * 1024;
// Per id: 3 hex digits to seed the counter, 4 for the variant group, 12 for the last group.
const RANDOM_HEX_PER_ID = 19;
let poolHex = '';
let poolIndex = 0;

// Made with the first id (in refill), not at import: startup time counts (see lib/platform/node.ts).
let HEX: readonly string[] = [];
// The variant group's first hex digit carries the RFC 9562 variant bits (10xx): 8, 9, a or b.
const VARIANT = ['8', '9', 'a', 'b'];

let lastMs = -1;
let timePrefix = '';
let counter = 0;

function refill(): void {
  if (HEX.length === 0) HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
  // Native hex encoding on Node (lib/platform/node.ts): the pool is refilled every ~860 ids.
  poolHex = randomHex(POOL_BYTES);
  poolIndex = 0;
}

/** A new UUIDv7 string; ids from one process sort in creation order. */
export function newRunId(): string {
  if (poolIndex + RANDOM_HEX_PER_ID > poolHex.length) refill();
  const at = poolIndex;
  poolIndex += RANDOM_HEX_PER_ID;
  const ms = Date.now();
  if (ms > lastMs) {
    setMillisecond(ms);
    // Start each millisecond at a random point in the lower half, leaving room to count up.
    counter = parseInt(poolHex.slice(at, at + 3), 16) & 0x7ff;
  } else if (++counter > 0xfff) {
    // 4,096 ids in one millisecond: borrow the next one, as RFC 9562 allows, to stay ordered.
    setMillisecond(lastMs + 1);
    counter = 0;
  }
  return (
    timePrefix +
    (HEX[0x70 | (counter >>> 8)] as string) +
    (HEX[counter & 0xff] as string) +
    '-' +
    (VARIANT[parseInt(poolHex[at + 3] as string, 16) & 0x3] as string) +
    poolHex.slice(at + 4, at + 7) +
    '-' +
    poolHex.slice(at + 7, at + 19)
  );
}

function setMillisecond(ms: number): void {
  lastMs = ms;
  const high = Math.floor(ms / 0x1000000); // top 24 bits of the 48-bit time
  const low = ms % 0x1000000; // bottom 24 bits
  timePrefix =
    (HEX[(high >>> 16) & 0xff] as string) +
    (HEX[(high >>> 8) & 0xff] as string) +
    (HEX[high & 0xff] as string) +
    (HEX[(low >>> 16) & 0xff] as string) +
    '-' +
    (HEX[(low >>> 8) & 0xff] as string) +
    (HEX[low & 0xff] as string) +
    '-';
}
