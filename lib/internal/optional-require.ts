import { createRequire } from 'node:module';
import { CallscopeError } from '../errors';

// Resolved relative to this file in both the CommonJS and the ESM build (which shims __filename).
const load = createRequire(__filename);

/**
 * Loads an optional peer dependency at the moment a feature needs it, never at import: callscope must
 * import and run without it installed.
 *
 * @throws {@link CallscopeError} with code `DEPENDENCY_MISSING`, naming the package and the feature.
 */
export function requireOptional<T>(id: string, feature: string): T {
  try {
    return load(id) as T;
  } catch (error) {
    throw new CallscopeError(
      'DEPENDENCY_MISSING',
      `${feature} needs the optional package \`${id}\`, which could not be loaded. Install it (\`npm install ${id}\`).`,
      { cause: error },
    );
  }
}
