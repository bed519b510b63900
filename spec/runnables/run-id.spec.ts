import { validate, version } from 'uuid';
import { newRunId } from '../../lib/internal/run-id';

/** The 48-bit Unix milliseconds at the start of a UUIDv7. */
function millisecondsOf(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

describe('newRunId (run ids)', () => {
  afterEach(() => jest.restoreAllMocks());

  it('makes valid UUIDv7 strings, unique and in creation order, across many refills of its random pool', () => {
    const ids = Array.from({ length: 5000 }, () => newRunId());
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('stays in order past 4,096 ids in one millisecond, borrowing the next one', () => {
    const now = Date.now() + 60_000; // later than any id made so far, so a new millisecond starts
    jest.spyOn(Date, 'now').mockReturnValue(now);
    const ids = Array.from({ length: 6000 }, () => newRunId());

    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(millisecondsOf(ids[0] as string)).toBe(now);
    expect(millisecondsOf(ids.at(-1) as string)).toBeGreaterThan(now);
  });

  it('carries the RFC 9562 variant and random bits in its last 62 bits', () => {
    const ids = Array.from({ length: 4000 }, () => newRunId());
    const variants = new Set(ids.map((id) => id[19]));
    expect([...variants].sort()).toEqual(['8', '9', 'a', 'b']);
    // 62 random bits: no two ids share their random end, and every hex digit shows up in every position.
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length);
    for (let position = 20; position < 36; position++) {
      if (position === 23) continue; // the dash
      expect(new Set(ids.map((id) => id[position])).size).toBe(16);
    }
  });
});
