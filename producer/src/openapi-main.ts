import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderOpenApiFile } from './http/openapi';

/** The committed copy at the repository root, next to the other docs. */
const OUTPUT = path.resolve(__dirname, '../../docs/openapi.json');

/** Writes the document the service serves to `docs/openapi.json` (`npm run openapi`). */
writeFileSync(OUTPUT, renderOpenApiFile());
console.log(`openapi: wrote ${path.relative(process.cwd(), OUTPUT)}`);
