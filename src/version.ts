// The operator's own identity, shared by logs, field manager and user agent.
import { createRequire } from 'node:module';

export const OPERATOR_NAME = 'cell-operator';
export const FIELD_MANAGER = 'cell-operator';

/** The package's version, from package.json (one directory above both src/ and dist/). */
export const PACKAGE_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
