'use strict';
// Preloaded into a service (`node --require` this file): as the process exits it prints one JSON
// line naming the @opentelemetry packages it loaded, so a test can tell what the off path loads.
process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules\/(@opentelemetry\/[^/]+)\//.exec(file);
    if (match) packages.add(match[1]);
  }
  process.stdout.write(
    `${JSON.stringify({ msg: 'loaded packages', opentelemetry: [...packages].sort() })}\n`,
  );
});
