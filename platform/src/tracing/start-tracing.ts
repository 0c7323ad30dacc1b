import type { Logger } from 'pino';
import type { TracingSettings } from './settings';

/** A process's tracing, once started. */
export interface Tracing {
  /** Runs `work`, and all it starts, with no span made: housekeeping that would only add noise. */
  untraced<T>(work: () => T): T;
  /** Sends the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

/** What a process without tracing runs with: its work as it is, nothing to flush. */
export const NO_TRACING: Tracing = {
  untraced: (work) => work(),
  shutdown: () => Promise.resolve(),
};

/**
 * Starts the OpenTelemetry SDK for `service`. Call it before the modules that load express,
 * amqplib and mysql2: their instrumentations patch those libraries as they load. The SDK is
 * loaded here and only here, so a process that never calls this never loads it.
 */
export async function startTracing(options: {
  service: string;
  settings: TracingSettings;
  logger: Logger;
}): Promise<Tracing> {
  const { service, settings, logger } = options;
  const { startTracingSdk } = await import('./sdk.js');
  const tracing = startTracingSdk({ service, protocol: settings.protocol, logger });
  logger.info({ endpoint: settings.endpoint, protocol: settings.protocol }, 'tracing on');
  return tracing;
}
