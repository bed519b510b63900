import { randomBytes } from '../platform';

/**
 * UUIDv7 run ids (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids made in the same
 * millisecond in order, then 62 random bits.
 *
 * Written here rather than taken from `uuid`'s `v7()` because the profile of a nested invoke showed `v7()`
 * at about 470 ns an id, a third of the whole run's cost: it copies 16 random bytes out of a 256-byte pool
 * (refilled every 16 ids) and builds the string from 16 lookups plus a lower-casing. Here the random part of
 * each id (its last 17 characters, `Vxxx-xxxxxxxxxxxx`) is formatted in advance, a thousand at a time, as
 * bytes decoded to one string; the time part is formatted once per millisecond; an id is the time part, the
 * counter and a slice of that string: about 40 ns less than formatting the random part per id, of some
 * 130 ns (Node 20 and 24), a third of which is reading the clock. `uuid` still validates ids given by users.
 */

/** How many ids one refill serves. */
const IDS_PER_POOL = 1024;
/** The random end of an id: the variant group (`Vxxx`, V one of 8, 9, a, b), '-', the last group. */
const TAIL_LENGTH = 17;
/** Random bytes per id: 62 bits for its end (8 bytes), 2 to seed the counter if it starts a millisecond. */
const BYTES_PER_ID = 10;
/** '0'..'9', 'a'..'f' as character codes. */
const HEX_CODES = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);
const DASH = 45;

let tails = '';
let random: Uint8Array = new Uint8Array(0);
let nextId = IDS_PER_POOL;

// Made with the first id (in refill), not at import: startup time counts (see lib/platform/node.ts).
let HEX: readonly string[] = [];
/**
 * The version group and its dash for each counter value (`7xxx-`), made with the first id like {@link HEX}:
 * an id is then two concatenations and a slice, three string objects of 32 bytes, instead of five (V8 makes
 * a rope node for each concatenation past 12 characters). Ids are made for every run, and per server request.
 */
let VERSION_GROUPS: readonly string[] = [];

let lastMs = -1;
let timePrefix = '';
let counter = 0;

function refill(): void {
  if (HEX.length === 0) {
    const hex = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
    HEX = hex;
    VERSION_GROUPS = Array.from({ length: 0x1000 }, (_, count) => `${hex[0x70 | (count >>> 8)] as string}${hex[count & 0xff] as string}-`);
  }
  random = randomBytes(IDS_PER_POOL * BYTES_PER_ID);
  const text = new Uint8Array(IDS_PER_POOL * TAIL_LENGTH);
  formatTails(random, text);
  // ASCII only: the same text in every decoding, and TextDecoder exists in every runtime callscope runs in.
  decoder ??= new TextDecoder();
  tails = decoder.decode(text);
  nextId = 0;
}

// One decoder for every refill, and the loop in a function of its own: with both in refill(), V8 compiled
// refill() while its loop ran (on-stack replacement), then threw that code away at the decoder made after
// the loop, which it had not seen yet; under a server's load that happened at nearly every refill (18 times
// in 4 seconds), each time compiling it again on the server's own CPU.
let decoder: { decode(bytes: Uint8Array): string } | undefined;

/** Writes the random end of each of the pool's ids into `text` as ASCII, from `bytes` (BYTES_PER_ID per id). */
function formatTails(bytes: Uint8Array, text: Uint8Array): void {
  for (let id = 0; id < IDS_PER_POOL; id++) {
    const from = id * BYTES_PER_ID;
    const to = id * TAIL_LENGTH;
    const first = bytes[from] as number;
    const second = bytes[from + 1] as number;
    // The variant group's first digit carries the RFC 9562 variant bits (10xx): 8, 9, a or b.
    text[to] = HEX_CODES[8 | (first & 0x3)] as number;
    text[to + 1] = HEX_CODES[first >>> 4] as number;
    text[to + 2] = HEX_CODES[second >>> 4] as number;
    text[to + 3] = HEX_CODES[second & 0xf] as number;
    text[to + 4] = DASH;
    for (let byte = 0; byte < 6; byte++) {
      const value = bytes[from + 2 + byte] as number;
      text[to + 5 + 2 * byte] = HEX_CODES[value >>> 4] as number;
      text[to + 6 + 2 * byte] = HEX_CODES[value & 0xf] as number;
    }
  }
}

/** A new UUIDv7 string; ids from one process sort in creation order. */
export function newRunId(): string {
  if (nextId === IDS_PER_POOL) refill();
  const id = nextId++;
  const ms = Date.now();
  if (ms > lastMs) {
    setMillisecond(ms);
    // Start each millisecond at a random point in the lower half, leaving room to count up.
    const seed = id * BYTES_PER_ID + 8;
    counter = (((random[seed] as number) << 8) | (random[seed + 1] as number)) & 0x7ff;
  } else if (++counter > 0xfff) {
    // 4,096 ids in one millisecond: borrow the next one, as RFC 9562 allows, to stay ordered.
    setMillisecond(lastMs + 1);
    counter = 0;
  }
  const tail = id * TAIL_LENGTH;
  return timePrefix + (VERSION_GROUPS[counter] as string) + tails.slice(tail, tail + TAIL_LENGTH);
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
