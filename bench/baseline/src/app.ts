import express, { type ErrorRequestHandler } from 'express';
import type { Pool, ResultSetHeader } from 'mysql2/promise';

/** `status.id` of ACTIVE (mysql-init/001-schema.sql). */
const ACTIVE = 1;

interface Subscription {
  id: number;
  user_id: number;
  status: 'ACTIVE';
  created_at: string;
  updated_at: null;
}

/**
 * The "plain API that writes to MySQL itself": the purchase the consumer makes (subscription row
 * and its event in one transaction), answered straight from the HTTP handler. No broker, no
 * idempotency record, and only the validation a careful handler needs.
 */
export function createBaselineApp(pool: Pool): express.Express {
  const app = express();
  app.use(express.json({ limit: '16kb' }));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.post(['/api/v1/subscriptions', '/api/v1/subscriptions/'], async (req, res) => {
    const userId = (req.body as { user_id?: unknown } | undefined)?.user_id;
    if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId < 1) {
      res.status(400).json({ code: 'validation_failed' });
      return;
    }
    const subscription = await purchase(pool, userId);
    if (!subscription) {
      res.status(422).json({ code: 'user_not_found' });
      return;
    }
    res.status(201).location(`/api/v1/subscriptions/${subscription.id}`).json(subscription);
  });
  const answerError: ErrorRequestHandler = (error: { status?: number }, _req, res, _next) => {
    res.status(error.status && error.status < 500 ? error.status : 500).json({ code: 'error' });
  };
  app.use(answerError);
  return app;
}

async function purchase(pool: Pool, userId: number): Promise<Subscription | null> {
  const connection = await pool.getConnection();
  try {
    await connection.beginTransaction();
    const now = new Date();
    const [inserted] = await connection.execute<ResultSetHeader>(
      'INSERT INTO subscription (user_id, status_id, created_at) SELECT id, ?, ? FROM `user` WHERE id = ?',
      [ACTIVE, now, userId],
    );
    if (inserted.affectedRows !== 1) {
      await connection.rollback();
      return null;
    }
    await connection.execute(
      'INSERT INTO event_history (subscription_id, type, created_at) VALUES (?, ?, ?)',
      [inserted.insertId, 'SUBSCRIPTION_PURCHASED', now],
    );
    await connection.commit();
    return {
      id: inserted.insertId,
      user_id: userId,
      status: 'ACTIVE',
      created_at: now.toISOString(),
      updated_at: null,
    };
  } catch (error) {
    await connection.rollback().catch(() => undefined);
    throw error;
  } finally {
    connection.release();
  }
}
