/**
 * The types of the dependencies the platform modules load on first use (see `loadZod` and its siblings in
 * ./node.ts and ./browser.mts). Type-only imports: this file loads nothing.
 */
import type picocolors from 'picocolors';
import type * as Uuid from 'uuid';
import type { z } from 'zod';

/** zod's `z` namespace. */
export type Zod = typeof z;

/** The `uuid` package's exports. */
export type UuidModule = typeof Uuid;

/** picocolors' default export. */
export type Colors = typeof picocolors;
