import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createAsyncApiDocument } from './api-docs/asyncapi';
import { createOpenApiDocument, renderDocumentFile } from './api-docs/openapi';

/** The committed copies at the repository root, next to the other docs. */
const DOCS = path.resolve(__dirname, '../../docs');
const OUTPUTS = [
  { file: path.join(DOCS, 'openapi.json'), create: createOpenApiDocument },
  { file: path.join(DOCS, 'asyncapi.json'), create: createAsyncApiDocument },
];

/**
 * Writes the documents the service serves to `docs/openapi.json` and `docs/asyncapi.json`
 * (`npm run openapi`).
 */
for (const { file, create } of OUTPUTS) {
  writeFileSync(file, renderDocumentFile(create()));
  console.log(`openapi: wrote ${path.relative(process.cwd(), file)}`);
}
