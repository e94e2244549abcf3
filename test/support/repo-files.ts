// Helpers for tests that read repository files (samples, fixtures, generated files) and check
// parse results by the field paths they name.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { FieldError, ParseResult } from '../../src/crds/parse.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function readRepoFile(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}

export function listRepoDir(path: string, suffix = '.yaml'): string[] {
  return readdirSync(join(REPO_ROOT, path))
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => `${path}/${f}`);
}

/** The YAML documents of a repository file, as plain objects. */
export function loadYaml(path: string): Record<string, unknown>[] {
  return parseAllDocuments(readRepoFile(path))
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);
}

/** The paths a failed parse names (empty when it succeeded). */
export function errorPaths<T>(result: ParseResult<T>): string[] {
  return result.ok ? [] : result.errors.map((e: FieldError) => e.path);
}
