/** Markers of the soak section of bench/RESULTS.md: written by `npm run soak`, kept by `npm run bench`. */
export const SOAK_START = '<!-- soak:start (written by `npm run soak`; kept by `npm run bench`) -->';
export const SOAK_END = '<!-- soak:end -->';
