import { CallscopeError } from '../errors';
import { requireFromLibrary } from '../platform';

/**
 * Loads an optional peer dependency at the moment a feature needs it, never at import: callscope must
 * import and run without it installed.
 *
 * @throws {@link CallscopeError} with code `DEPENDENCY_MISSING`, naming the package and the feature.
 */
export function requireOptional<T>(id: string, feature: string): T {
  try {
    return requireFromLibrary(id) as T;
  } catch (error) {
    throw new CallscopeError(
      'DEPENDENCY_MISSING',
      `${feature} needs the optional package \`${id}\`, which could not be loaded. Install it (\`npm install ${id}\`).`,
      { cause: error },
    );
  }
}
