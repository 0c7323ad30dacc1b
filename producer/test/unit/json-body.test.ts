import { describe, expect, it } from '@jest/globals';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import request from 'supertest';
import { createJsonBody } from '../../src/http/json-body';

/** An app that answers what the body reader made of the request: its body, or its error. */
function appWith(readBody: RequestHandler) {
  const app = express();
  app.post('/', readBody, (req, res) => {
    res.json({ body: req.body === undefined ? '(none)' : (req.body as unknown) });
  });
  const report: ErrorRequestHandler = (
    error: { type?: string; status?: number },
    _req,
    res,
    _next,
  ) => {
    res.status(299).json({ error: { type: error.type, status: error.status } });
  };
  app.use(report);
  return app;
}

const ours = appWith(createJsonBody());
const bodyParsers = appWith(
  express.json({ limit: 16 * 1024, type: ['application/json', 'application/*+json'] }),
);

const JSON_TYPE = 'application/json';
const CASES: {
  name: string;
  type?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}[] = [
  { name: 'an object', type: JSON_TYPE, body: '{"user_id": 1}' },
  { name: 'an object after whitespace', type: JSON_TYPE, body: ' \n\t{"user_id": 1}' },
  { name: 'an array', type: JSON_TYPE, body: '[1, 2]' },
  { name: 'an empty body', type: JSON_TYPE, body: '' },
  { name: 'a number', type: JSON_TYPE, body: '42' },
  { name: 'a string', type: JSON_TYPE, body: '"text"' },
  { name: 'null', type: JSON_TYPE, body: 'null' },
  { name: 'whitespace only', type: JSON_TYPE, body: '   ' },
  { name: 'malformed JSON', type: JSON_TYPE, body: '{"user_id": ' },
  { name: 'a byte-order mark', type: JSON_TYPE, body: '\ufeff{"user_id": 1}' },
  {
    name: 'invalid UTF-8',
    type: JSON_TYPE,
    body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
  },
  { name: 'charset utf-8', type: 'application/json; charset=utf-8', body: '{"a": "é"}' },
  { name: 'charset UTF-8 quoted', type: 'application/json; charset="UTF-8"', body: '{"a": 1}' },
  { name: 'charset latin1', type: 'application/json; charset=latin1', body: '{"a": 1}' },
  {
    name: 'charset utf-16le',
    type: 'application/json; charset=utf-16le',
    body: Buffer.from('{"a":1}', 'utf16le'),
  },
  { name: 'a +json type', type: 'application/merge-patch+json', body: '{"a": 1}' },
  { name: 'exactly the limit', type: JSON_TYPE, body: `{"a": "${'x'.repeat(16 * 1024 - 9)}"}` },
  {
    name: 'one byte over the limit',
    type: JSON_TYPE,
    body: `{"a": "${'x'.repeat(16 * 1024 - 8)}"}`,
  },
  { name: 'far over the limit', type: JSON_TYPE, body: `{"a": "${'x'.repeat(100_000)}"}` },
  {
    name: 'an unknown content coding',
    type: JSON_TYPE,
    body: '{"a": 1}',
    headers: { 'Content-Encoding': 'compress' },
  },
  {
    name: 'the identity coding',
    type: JSON_TYPE,
    body: '{"a": 1}',
    headers: { 'Content-Encoding': 'identity' },
  },
  { name: 'no body at all', type: JSON_TYPE },
];

describe('the JSON body reader reads every request as express.json does', () => {
  it.each(CASES)('$name', async ({ type, body, headers = {} }) => {
    const send = async (app: express.Express) => {
      let call = request(app).post('/').set(headers);
      if (type !== undefined) call = call.set('Content-Type', type);
      const res = await (body === undefined ? call : call.send(body));
      return { status: res.status, body: res.body as unknown };
    };
    expect(await send(ours)).toEqual(await send(bodyParsers));
  });
});
