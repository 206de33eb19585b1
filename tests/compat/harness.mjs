// Starts `walcast dev` on a throwaway data directory and a free port, and
// hands tests what they need: the database URL, the WebSocket URL, tokens,
// and a psql helper. The official client is the judge: tests talk to
// walcast through @supabase/realtime-js exactly as an application would.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { RealtimeClient } from '@supabase/realtime-js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.WALCAST_BIN ?? join(root, 'target', 'debug', 'walcast');

export const DEV_SECRET = 'walcast-dev-secret-not-for-production-use';

/** An HS256 JWT signed with the dev secret. */
export function token(claims, secret = DEV_SECRET) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat: now, exp: now + 3600, ...claims })}`;
  const sig = createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${sig}`;
}

/** Starts walcast dev; resolves once it serves. */
export async function startWalcast() {
  const dir = mkdtempSync(join(tmpdir(), 'walcast-compat-'));
  chmodSync(dir, 0o755);
  const child = spawn(binary, ['dev', '--data-dir', join(dir, 'pgdata')], {
    env: { ...process.env, WALCAST_LISTEN: '127.0.0.1:0', RUST_LOG: 'warn', WALCAST_CONFIG: join(root, 'config', 'walcast.toml') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`walcast did not start:\n${stderr}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const db = stderr.match(/DATABASE_URL=(\S+)/);
      const ws = stderr.match(/WebSocket: (ws:\/\/\S+)\/websocket/);
      if (db && ws) {
        clearTimeout(timer);
        resolve({ databaseUrl: db[1], realtimeUrl: ws[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`walcast exited with ${code}:\n${stderr}`)));
  });
  const { databaseUrl, realtimeUrl } = await ready;
  const clients = [];
  return {
    databaseUrl,
    realtimeUrl,
    psql(sql) {
      return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', databaseUrl, '-c', sql], { encoding: 'utf8' }).trim();
    },
    client(options = {}) {
      const client = new RealtimeClient(realtimeUrl, {
        params: { apikey: options.apikey ?? token({ role: 'anon' }) },
        transport: WebSocket,
        vsn: options.vsn ?? '2.0.0',
        heartbeatIntervalMs: 1000,
        ...options.extra,
      });
      clients.push(client);
      return client;
    },
    async stop() {
      // Clients reconnect forever otherwise, keeping the test process alive.
      for (const client of clients) client.disconnect();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Subscribes and resolves with the status once it is final. */
export function subscribe(channel) {
  return new Promise((resolve) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED' || status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') resolve({ status, err });
    });
  });
}

/** Resolves with the next value pushed to `queue`, or rejects after `ms`. */
export function nextEvent(queue, ms = 5000) {
  return new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const timer = setTimeout(() => reject(new Error('no event within ' + ms + ' ms')), ms);
    queue.waiter = () => {
      clearTimeout(timer);
      resolve(queue.shift());
    };
  });
}

/** A queue that `nextEvent` can wait on. */
export function eventQueue() {
  const queue = [];
  queue.push = (item) => {
    Array.prototype.push.call(queue, item);
    const waiter = queue.waiter;
    queue.waiter = null;
    if (waiter) waiter();
    return queue.length;
  };
  return queue;
}
