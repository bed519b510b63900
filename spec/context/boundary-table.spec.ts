import { readFileSync } from 'node:fs';
import path from 'node:path';
import { boundaryCases } from './boundary-cases';
import { END_MARKER, MODES, renderBoundaryTable, START_MARKER, type BoundaryRow } from './boundary-table';

describe("the README's boundary table", () => {
  it('shows exactly what spec/context/boundaries.spec.ts asserts (run `npm run boundaries` to regenerate)', () => {
    // boundaries.spec.ts asserts each expected outcome, and that every lost case is kept with its remedy.
    const rows: BoundaryRow[] = boundaryCases.map((boundary) => ({
      name: boundary.name,
      remedy: boundary.remedy,
      outcomes: Object.fromEntries(
        MODES.map((mode) => [mode, boundary.expected[mode] === 'kept' ? { plain: 'kept' } : { plain: 'lost', remedied: 'kept' }]),
      ) as BoundaryRow['outcomes'],
    }));
    const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const shown = readme.slice(readme.indexOf(START_MARKER) + START_MARKER.length, readme.indexOf(END_MARKER)).trim();

    expect(shown).toBe(renderBoundaryTable(rows));
  });
});
