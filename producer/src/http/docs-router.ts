import path from 'node:path';
import express, { Router } from 'express';
import { createAsyncApiDocument } from '../api-docs/asyncapi';
import { createOpenApiDocument } from '../api-docs/openapi';

/** Swagger UI's files, found without loading its bundle into this process. */
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** The page loads only what this service serves: no CDN, no inline script. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Subscription service API</title>
    <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/api/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/api/docs/init.js"></script>
  </body>
</html>
`;

const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
});
`;

/**
 * `/api/openapi.json` and the page at `/api/docs` that renders it, and `/api/asyncapi.json`, the
 * messages on the broker.
 */
export function createDocsRouter(): Router {
  const document = createOpenApiDocument();
  const asyncApiDocument = createAsyncApiDocument();
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get('/asyncapi.json', (_req, res) => {
    res.json(asyncApiDocument);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT_SCRIPT);
  });
  router.use('/docs/assets', express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1d' }));
  return router;
}
