// Starts `walcast dev` for the browser test, the way tests/compat/harness.mjs
// does (WALCAST_LISTEN=127.0.0.1:0, the port read from the banner), and can
// start it again on the same port and data directory to test a restart.

import { spawn, execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.WALCAST_BIN ?? join(root, 'target', 'debug', 'walcast');

/**
 * Starts walcast dev on `port` (0: a free one) with its cluster in
 * `dataDir`; resolves once the banner is printed, i.e. once it serves.
 */
export async function startWalcast({ dataDir, port = 0, fresh = false }) {
  const args = ['dev', '--data-dir', dataDir];
  if (fresh) args.push('--fresh');
  const child = spawn(binary, args, {
    env: {
      ...process.env,
      WALCAST_LISTEN: `127.0.0.1:${port}`,
      WALCAST_CONFIG: join(root, 'config', 'walcast.toml'),
      WALCAST_WEB_DIR: join(root, 'web'),
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const banner = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`walcast did not start within 60 s:\n${stderr}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (process.env.WALCAST_TEST_VERBOSE) process.stderr.write(chunk);
      const db = stderr.match(/DATABASE_URL=(\S+)/);
      const ws = stderr.match(/WebSocket: ws:\/\/127\.0\.0\.1:(\d+)\//);
      const widget = stderr.match(/Demo widget: +(http\S+)/);
      const problem = stderr.match(/Demo pages unavailable: (.*)/);
      if (problem) {
        clearTimeout(timer);
        reject(new Error(`walcast cannot serve the demo pages: ${problem[1]}`));
      } else if (db && ws && widget) {
        clearTimeout(timer);
        resolve({ databaseUrl: db[1], port: Number(ws[1]) });
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`walcast exited with ${code}:\n${stderr}`));
    });
  });
  return {
    ...banner,
    base: `http://127.0.0.1:${banner.port}`,
    /** Runs SQL with psql against the embedded cluster; returns its output. */
    psql(sql) {
      return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', banner.databaseUrl, '-c', sql], {
        encoding: 'utf8',
      }).trim();
    },
    /** SIGTERM, then waits for the process (and its PostgreSQL) to end. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
