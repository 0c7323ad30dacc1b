import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderAsyncApiFile } from './http/asyncapi';
import { renderOpenApiFile } from './http/openapi';

/** The committed copies at the repository root, next to the other docs. */
const DOCS = path.resolve(__dirname, '../../docs');
const OUTPUTS = [
  { file: path.join(DOCS, 'openapi.json'), render: renderOpenApiFile },
  { file: path.join(DOCS, 'asyncapi.json'), render: renderAsyncApiFile },
];

/**
 * Writes the documents the service serves to `docs/openapi.json` and `docs/asyncapi.json`
 * (`npm run openapi`).
 */
for (const { file, render } of OUTPUTS) {
  writeFileSync(file, render());
  console.log(`openapi: wrote ${path.relative(process.cwd(), file)}`);
}
