import { readFileSync } from 'node:fs';
import path from 'node:path';
import { jest } from '@jest/globals';
import { context, propagation, trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { createInstrumentations } from '../../platform/src/tracing/instrumentations';

export interface InMemoryTracing {
  /** Spans ended so far, as the exporter received them. */
  finished(): ReadableSpan[];
  /** Spans started so far, ended or not. */
  started(): ReadableSpan[];
  /**
   * Resolves with what `holds` returns once it is neither `undefined` nor `false`, checked as each
   * span starts or ends; rejects naming `what` after `timeoutMs`.
   */
  waitFor<T>(
    what: string,
    holds: (finished: ReadableSpan[], started: ReadableSpan[]) => T | undefined | false,
    timeoutMs?: number,
  ): Promise<T>;
  /** Takes the instrumentations off the modules they patched and unregisters the SDK. */
  stop(): Promise<void>;
}

/**
 * The file a module definition names (`amqplib/lib/channel_model.js`), by its path: packages
 * whose `exports` do not list it cannot be required by that name, only by where it is.
 */
function resolveFile(file: string): string {
  const name = file.startsWith('@') ? file.split('/').slice(0, 2).join('/') : file.split('/')[0];
  let root = path.dirname(require.resolve(name ?? file));
  while (
    (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string })
      .name !== name
  ) {
    root = path.dirname(root);
  }
  return path.join(root, file.slice((name ?? '').length));
}

/**
 * Applies each instrumentation's patches to the modules as this test file loads them. Jest gives
 * every test file modules of its own, loaded by its own `require`, which the require hook the
 * SDK installs never sees: so the patches the instrumentations would apply on require are
 * applied here, once, from their module definitions (`jest.requireActual` is that file's own
 * `require`; the patches here do not depend on the version they are told). Returns what takes
 * them off again.
 */
function patchLoadedModules(instrumentations: Instrumentation[]): () => void {
  const undo: (() => void)[] = [];
  for (const instrumentation of instrumentations) {
    const definitions = (
      instrumentation as unknown as {
        getModuleDefinitions(): {
          name: string;
          patch?: (exports: unknown) => unknown;
          unpatch?: (exports: unknown) => void;
          files: {
            name: string;
            patch: (exports: unknown) => unknown;
            unpatch: (exports?: unknown) => void;
          }[];
        }[];
      }
    ).getModuleDefinitions();
    for (const definition of definitions) {
      const exports = jest.requireActual<unknown>(definition.name);
      definition.patch?.(exports);
      undo.push(() => definition.unpatch?.(exports));
      for (const file of definition.files) {
        const fileExports = jest.requireActual<unknown>(resolveFile(file.name));
        file.patch(fileExports);
        undo.push(() => file.unpatch(fileExports));
      }
    }
  }
  return () => {
    for (const step of undo.reverse()) step();
  };
}

/**
 * The service's tracing, as `platform` starts it (the same instrumentations, configured alike),
 * with its spans kept in memory for the test to read instead of exported. Start it before the
 * app and the consumer are built: Express's instrumentation patches routes as they are added.
 */
export function startInMemoryTracing(): InMemoryTracing {
  const exporter = new InMemorySpanExporter();
  const started: ReadableSpan[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const watcher: SpanProcessor = {
    onStart: (span: Span) => {
      started.push(span);
      notify();
    },
    onEnd: () => setImmediate(notify),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new NodeTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter), watcher],
  });
  provider.register();
  const instrumentations = createInstrumentations();
  for (const instrumentation of instrumentations) instrumentation.setTracerProvider(provider);
  const unpatch = patchLoadedModules(instrumentations);

  return {
    finished: () => exporter.getFinishedSpans(),
    started: () => [...started],
    waitFor(what, holds, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = holds(exporter.getFinishedSpans(), [...started]);
          if (found === undefined || found === false) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          const names = exporter.getFinishedSpans().map((span) => span.name);
          reject(new Error(`waited ${timeoutMs} ms for ${what}; spans ended: ${names.join(', ')}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      unpatch();
      for (const instrumentation of instrumentations) instrumentation.disable();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
