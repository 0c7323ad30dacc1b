import { expect } from '@jest/globals';

/** An HTTP answer with its body read: parsed JSON, or the text when it is not JSON. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A Subscription as docs/contract.md describes it. */
export interface SubscriptionBody {
  id: number;
  user_id: number;
  status: 'ACTIVE' | 'CANCELED';
  created_at: string;
  updated_at: string | null;
}

/** An RFC 9457 problem with the contract's extensions. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors?: { pointer: string; detail: string }[];
  current_status?: string;
}

export interface SendOptions {
  /** Sent as `application/json` unless `contentType` says otherwise. */
  json?: unknown;
  /** Sent as-is, for bodies JSON.stringify cannot produce. */
  rawBody?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Api {
  send(method: string, path: string, options?: SendOptions): Promise<ApiResponse>;
  purchase(body: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  changeStatus(id: number | string, body: unknown): Promise<ApiResponse>;
  cancel(id: number): Promise<ApiResponse>;
  restart(id: number): Promise<ApiResponse>;
}

export const SUBSCRIPTIONS_PATH = '/api/v1/subscriptions';

/** ISO-8601 in UTC, as the API writes timestamps. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** A client of the API at `baseUrl`; `defaultHeaders` (a bearer token, say) go on every request. */
export function createApi(baseUrl: string, defaultHeaders: Record<string, string> = {}): Api {
  async function send(method: string, path: string, options: SendOptions = {}) {
    const { json, rawBody, contentType, headers = {} } = options;
    const body = rawBody ?? (json === undefined ? undefined : JSON.stringify(json));
    const type = contentType ?? (body === undefined ? undefined : 'application/json');
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(type ? { 'content-type': type } : {}), ...defaultHeaders, ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: parseBody(text) };
  }

  const changeStatus = (id: number | string, body: unknown) =>
    send('PUT', `${SUBSCRIPTIONS_PATH}/${id}/status`, { json: body });

  return {
    send,
    purchase: (body, headers) => send('POST', SUBSCRIPTIONS_PATH, { json: body, headers }),
    changeStatus,
    cancel: (id) => changeStatus(id, { canceled: true }),
    restart: (id) => changeStatus(id, { restarted: true }),
  };
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Asserts a success carrying one Subscription and returns it. */
export function expectSubscription(
  response: ApiResponse,
  status: 200 | 201,
  expected: Pick<SubscriptionBody, 'user_id' | 'status'> & { id?: number },
): SubscriptionBody {
  // Status and body together, so a wrong status shows the problem the API answered with.
  expect({ status: response.status, body: response.body }).toEqual({
    status,
    body: {
      id: expected.id ?? expect.any(Number),
      user_id: expected.user_id,
      status: expected.status,
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: status === 201 ? null : expect.stringMatching(ISO_UTC),
    },
  });
  expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
  return response.body as SubscriptionBody;
}

/** Asserts an application/problem+json answer with `status` and `code`, and returns its body. */
export function expectProblem(response: ApiResponse, status: number, code: string): ProblemBody {
  const requestId = response.headers.get('x-request-id');
  expect({ status: response.status, body: response.body }).toMatchObject({
    status,
    body: {
      type: expect.any(String),
      title: expect.any(String),
      status,
      detail: expect.any(String),
      code,
      request_id: requestId,
    },
  });
  expect(requestId).toBeTruthy();
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
  expect(response.body).not.toHaveProperty('stack');
  return response.body as ProblemBody;
}

/** Asserts a 400 whose `errors` name the field at `pointer`, each with a readable detail. */
export function expectValidationProblem(response: ApiResponse, pointer: string): ProblemBody {
  const problem = expectProblem(response, 400, 'validation_failed');
  expect(problem.errors).toEqual(
    expect.arrayContaining([expect.objectContaining({ pointer, detail: expect.any(String) })]),
  );
  for (const error of problem.errors ?? []) {
    expect(error).toEqual(
      expect.objectContaining({ pointer: expect.any(String), detail: expect.any(String) }),
    );
  }
  return problem;
}
