import { DatabaseUnavailableError } from '@subscriptions/store';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { AppError } from '../errors';
import { PROBLEMS, sendProblem } from './problem';

/** Shape of the errors body-parser raises (malformed JSON, too large, bad charset). */
interface BodyParserError {
  type?: string;
  status?: number;
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('route_not_found', `no route for ${req.method} ${req.path}`));
};

/** Turns every error, ours or Express's, into problem+json; 5xx bodies never carry internals. */
export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (thrown: unknown, req, res, next) => {
    if (res.headersSent) {
      next(thrown);
      return;
    }
    // The read model's "not now": the client may try again shortly.
    const error =
      thrown instanceof DatabaseUnavailableError
        ? new AppError('database_unavailable', thrown.message)
        : thrown;
    if (error instanceof AppError) {
      if (PROBLEMS[error.code].status >= 500) {
        logger.warn({ code: error.code, request_id: res.locals['requestId'] }, error.message);
      }
      for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
      sendProblem(res, error.code, error.message, error.extra);
      return;
    }
    const { type, status } = (error ?? {}) as BodyParserError;
    switch (type) {
      case 'entity.parse.failed':
        sendProblem(res, 'malformed_json', 'the body is not a valid JSON object', {
          errors: [{ in: 'body', pointer: '', detail: 'is not a valid JSON object' }],
        });
        return;
      case 'entity.too.large':
        sendProblem(res, 'payload_too_large', 'the body is larger than 16 KiB');
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendProblem(res, 'unsupported_media_type', 'the body must be UTF-8 JSON');
        return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendProblem(res, 'validation_failed', 'the request could not be read');
      return;
    }
    logger.error(
      { err: error, request_id: res.locals['requestId'], path: req.path },
      'unhandled error',
    );
    sendProblem(res, 'internal_error', 'an unexpected error occurred; it has been logged');
  };
}
