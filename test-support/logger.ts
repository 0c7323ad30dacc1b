import pino from 'pino';

/** Quiet by default; `TEST_LOG_LEVEL=debug npm test` shows what the code under test logs. */
export const testLogger = pino({ level: process.env['TEST_LOG_LEVEL'] || 'silent' });
