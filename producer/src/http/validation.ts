import type { z } from 'zod';
import { AppError } from '../errors';

export type ValidationSource = 'body' | 'path' | 'query' | 'header';

interface FieldError {
  in: ValidationSource;
  pointer: string;
  detail: string;
}

/** RFC 6901: `~` and `/` inside a key are escaped. */
function toPointer(path: readonly PropertyKey[]): string {
  return path.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

function toFieldErrors(source: ValidationSource, issues: z.core.$ZodIssue[]): FieldError[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          in: source,
          pointer: toPointer([...issue.path, key]),
          detail: 'is not a known field',
        }))
      : [{ in: source, pointer: toPointer(issue.path), detail: issue.message }],
  );
}

/** Parses `input` with `schema` or throws a 400 that names every bad field. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  input: unknown,
  source: ValidationSource,
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const errors = toFieldErrors(source, result.error.issues);
  const detail = errors.map((error) => `${error.pointer || source} ${error.detail}`).join('; ');
  throw new AppError('validation_failed', detail, { errors });
}
