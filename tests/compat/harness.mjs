// Starts `walcast dev` on a throwaway data directory and a free port, and
// hands tests what they need: the database URL, the WebSocket URL, tokens,
// and a psql helper. The official client is the judge: tests talk to
// walcast through @supabase/realtime-js exactly as an application would.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHmac, randomUUID } from 'node:crypto';
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

/** Starts walcast dev; resolves once it serves. `config` defaults to the
 * compat suite's open configuration (tests/compat/walcast.toml). */
export async function startWalcast({ config = join(root, 'tests', 'compat', 'walcast.toml'), env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'walcast-compat-'));
  chmodSync(dir, 0o755);
  const child = spawn(binary, ['dev', '--data-dir', join(dir, 'pgdata')], {
    env: { ...process.env, WALCAST_LISTEN: '127.0.0.1:0', RUST_LOG: 'warn', WALCAST_CONFIG: config, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`walcast did not start:\n${stderr}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const db = stderr.match(/DATABASE_URL=(\S+)/);
      const ws = stderr.match(/WebSocket: (ws:\/\/\S+)\/websocket/);
      // The banner ends with an empty line.
      if (db && ws && /WebSocket:[^\n]*\n[\s\S]*?\n[ \t]*\n/.test(stderr)) {
        clearTimeout(timer);
        const banner = Object.fromEntries([...stderr.matchAll(/^\s+([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
        resolve({ databaseUrl: db[1], realtimeUrl: ws[1], banner });
      }
    });
    child.on('exit', (code) => reject(new Error(`walcast exited with ${code}:\n${stderr}`)));
  });
  const { databaseUrl, realtimeUrl, banner } = await ready;
  const clients = [];
  return {
    databaseUrl,
    realtimeUrl,
    /** The banner's KEY=VALUE lines (tokens, ids). */
    banner,
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
    /** Resolves once walcast has streamed everything committed so far: a
     * logical message committed now reaches a service_role channel. Rows a
     * test writes before its clients join are then history, not news. */
    async sync() {
      const client = this.client({ apikey: token({ role: 'service_role' }) });
      const topic = `walcast-test-sync:${randomUUID()}`;
      const channel = client.channel(topic);
      const seen = new Promise((resolve) => channel.on('broadcast', { event: 'sync' }, resolve));
      const { status, err } = await subscribe(channel);
      if (status !== 'SUBSCRIBED') throw new Error(`sync channel: ${err?.message ?? status}`);
      const message = JSON.stringify({ topic, event: 'sync', payload: {} }).replaceAll("'", "''");
      this.psql(`SELECT pg_logical_emit_message(true, 'walcast', '${message}')`);
      let timer;
      const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('sync: no message within 30 s')), 30_000)));
      await Promise.race([seen, timeout]).finally(() => clearTimeout(timer));
      await client.removeAllChannels();
      client.disconnect();
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

// ---------------------------------------------------------------------------
// Fault tests: a standalone PostgreSQL that outlives walcast, and
// `walcast serve` in front of it on a fixed port, so that walcast can be
// killed (-9) and restarted, and PostgreSQL restarted, under clients.
// ---------------------------------------------------------------------------

import * as fsModule from 'node:fs';
import { createServer, connect } from 'node:net';

/** A TCP port nobody listens on right now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection (polling every
 * `every` ms), or rejects after `ms`. */
export async function waitForPort(port, ms = 60_000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function postgresBin() {
  const { readdirSync, existsSync } = fsModule;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length) {
    try {
      const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
      if (existsSync(join(dir, 'initdb'))) return dir;
    } catch {}
  }
  if (!versions.length) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (scripts/ensure-postgres.sh installs them)');
  return join(base, versions[0], 'bin');
}

/**
 * Starts a standalone PostgreSQL cluster (wal_level=logical, trust auth
 * for local and 127.0.0.1) in a temporary directory on a free port. As
 * root, its commands run as the `postgres` user (PostgreSQL refuses root).
 * Resolves with `{url, port, dir, psql(sql), psqlSpawn(sql), restart(mode), stop()}`.
 */
export async function startPostgres({ settings = {} } = {}) {
  const bin = postgresBin();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'walcast-pg-'));
  const data = join(dir, 'data');
  const run = (tool, args) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  if (asRoot) execFileSync('chown', ['postgres:', dir]);
  chmodSync(dir, 0o755);
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const conf = {
    port,
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${dir}'`,
    wal_level: 'logical',
    max_wal_senders: 10,
    max_replication_slots: 10,
    max_connections: 100,
    // The tests crash processes, never the machine: fsync buys nothing.
    fsync: 'off',
    ...settings,
  };
  fsModule.appendFileSync(
    join(data, 'postgresql.conf'),
    '\n' + Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n',
  );
  const log = join(dir, 'postgres.log');
  const pgCtl = (...args) => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', ...args]);
  pgCtl('start');
  const pgCtlAsync = (...args) => {
    const argv = ['-D', data, '-l', log, '-w', ...args];
    const [cmd, full] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...argv]] : [join(bin, 'pg_ctl'), argv];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, full, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} failed (${code}): ${stderr.trim()}`))));
    });
  };
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const psqlArgs = (sql) => ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', url, '-c', sql];
  return {
    url,
    port,
    dir,
    /** Runs SQL, returns its unaligned output. */
    psql(sql) {
      return execFileSync('psql', psqlArgs(sql), { encoding: 'utf8', maxBuffer: 1 << 28 }).trim();
    },
    /** Runs SQL in a child psql (as `appName`, to find it in
     * pg_stat_activity); `done` resolves with {code, stderr} when it ends. */
    psqlSpawn(sql, { appName = 'walcast-test' } = {}) {
      const child = spawn('psql', psqlArgs(sql), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, PGAPPNAME: appName },
      });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
      return { child, done };
    },
    /** `pg_ctl restart -m fast|immediate`, waiting at most `timeout`
     * seconds for each of the stop and the start; resolves once it accepts
     * connections again (without blocking the event loop meanwhile). */
    restart(mode = 'fast', { timeout = 60 } = {}) {
      return pgCtlAsync('restart', '-m', mode, '-t', String(timeout));
    },
    /** Whatever state it is in (say, a shutdown that hangs): stop it at
     * once and start it again. */
    async forceRestart() {
      await pgCtlAsync('stop', '-m', 'immediate').catch(() => {});
      await pgCtlAsync('start');
    },
    log() {
      return fsModule.existsSync(log) ? fsModule.readFileSync(log, 'utf8') : '';
    },
    async stop() {
      try {
        pgCtl('stop', '-m', 'immediate');
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `walcast migrate`, then `walcast serve` for `databaseUrl` on a
 * fixed free port (kept across restarts) with the dev secret. `config`
 * defaults to the compat suite's open configuration. Resolves once it
 * listens. The handle can `kill(signal)`, `start()` again, `restart()`, and
 * make realtime-js clients (`client()`), all of which `stop()` disconnects.
 */
export async function serveWalcast({ databaseUrl, config = join(root, 'tests', 'compat', 'walcast.toml'), env = {}, port } = {}) {
  port ??= await freePort();
  const environment = {
    ...process.env,
    RUST_LOG: 'info',
    DATABASE_URL: databaseUrl,
    WALCAST_LISTEN: `127.0.0.1:${port}`,
    WALCAST_JWT_SECRET: DEV_SECRET,
    WALCAST_CONFIG: config,
    ...env,
  };
  execFileSync(binary, ['migrate'], { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
  const realtimeUrl = `ws://127.0.0.1:${port}/realtime/v1`;
  let child = null;
  let log = '';
  const clients = [];
  const handle = {
    port,
    realtimeUrl,
    httpUrl: `http://127.0.0.1:${port}`,
    /** walcast's stderr so far (all runs). */
    log: () => log,
    get pid() {
      return child?.pid;
    },
    /** Starts walcast; resolves once it listens (`listening: false` resolves at spawn). */
    async start({ listening = true } = {}) {
      if (child) throw new Error('walcast is running');
      const me = spawn(binary, ['serve'], { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
      child = me;
      me.exited = new Promise((resolve) => me.once('exit', (code, signal) => resolve({ code, signal })));
      me.exited.then(() => {
        if (child === me) child = null;
      });
      me.stderr.on('data', (chunk) => {
        log += chunk;
        if (log.length > 1 << 20) log = log.slice(-(1 << 19));
      });
      if (listening) await handle.waitFor(/walcast ready/, 60_000, me);
    },
    /** Waits until this run's stderr matches `pattern`. */
    waitFor(pattern, ms = 60_000, me = child) {
      const from = log.length;
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = log.slice(Math.max(0, from - 1)).match(pattern) ?? null;
          if (match) return done(() => resolve(match));
          return false;
        };
        const timer = setTimeout(() => done(() => reject(new Error(`walcast: no ${pattern} within ${ms} ms:\n${log.slice(-4000)}`))), ms);
        const onData = () => check();
        const onExit = ({ code, signal }) => done(() => reject(new Error(`walcast exited (${code ?? signal}) before ${pattern}:\n${log.slice(-4000)}`)));
        function done(f) {
          clearTimeout(timer);
          me?.stderr.off('data', onData);
          f();
          return true;
        }
        if (!me) return done(() => reject(new Error('walcast is not running')));
        me.stderr.on('data', onData);
        me.exited.then(onExit);
      });
    },
    /** Sends `signal` (SIGKILL by default) and waits for the exit. */
    async kill(signal = 'SIGKILL') {
      const me = child;
      if (!me) return;
      me.kill(signal);
      await me.exited;
    },
    async restart({ signal = 'SIGKILL' } = {}) {
      await handle.kill(signal);
      await handle.start();
    },
    /** A realtime-js client of this walcast (heartbeat every second). */
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
    /** Disconnects the clients, then SIGTERM; SIGKILL if walcast has not
     * exited after `grace` ms (resolves with whether it exited by itself). */
    async stop({ grace = 15_000 } = {}) {
      for (const client of clients) disconnectForGood(client);
      const me = child;
      if (!me) return true;
      me.kill('SIGTERM');
      const exited = await Promise.race([me.exited.then(() => true), new Promise((r) => setTimeout(r, grace, false))]);
      if (!exited) {
        process.stderr.write(`walcast did not exit within ${grace} ms of SIGTERM; killed\n`);
        await handle.kill('SIGKILL');
      }
      return exited;
    },
  };
  await handle.start();
  return handle;
}

/** Disconnects a realtime-js client and keeps it from reconnecting: a
 * reconnect already under way when `disconnect()` is called would
 * otherwise open a new socket afterwards (and keep the test process alive). */
export function disconnectForGood(client) {
  const socket = client.socketAdapter?.getSocket?.();
  if (socket) socket.connect = () => {};
  client.disconnect();
}
