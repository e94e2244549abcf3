// Everything `npm run gen:crds` writes, as {path: content}: the generator script writes it, the
// staleness test compares it with the committed files.
import { renderApiDocs } from './api-docs.js';
import { CRD_DEFINITIONS } from './crd-definitions.js';
import { crdFileName, renderCrdYaml } from './crd-manifests.js';

export const API_DOCS_PATH = 'docs/api.md';

export function generatedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const def of CRD_DEFINITIONS) files[crdFileName(def)] = renderCrdYaml(def);
  files[API_DOCS_PATH] = renderApiDocs(CRD_DEFINITIONS);
  return files;
}
