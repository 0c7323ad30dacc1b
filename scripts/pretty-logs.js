// `npm run dev`: pino-pretty over a process's JSON log lines, until that process closes the pipe.
// Ctrl-C reaches every process of the terminal, and concurrently sends it once more: ignoring it
// here keeps the lines the process logs while it shuts down.
process.on('SIGINT', () => {});
require('pino-pretty/bin.js');
