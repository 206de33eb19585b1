// The README's walk-through, run as written: the JavaScript block marked
// `readme:walkthrough.mjs` with the tokens `walcast dev` prints, and the
// SQL of the block marked `readme:walkthrough.sql` through the same psql
// commands. If the README drifts from what walcast does, this fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWalcast } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The fenced block right after `<!-- readme:<name> -->`. */
function block(name) {
  const match = readme.match(new RegExp(`<!-- readme:${name.replace('.', '\\.')} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``));
  assert.ok(match, `README has a block marked readme:${name}`);
  return match[1];
}

/** Waits until `lines` satisfies `done`, at most 20 s. */
async function until(lines, done, what) {
  const deadline = Date.now() + 20_000;
  while (!done(lines)) {
    if (Date.now() > deadline) assert.fail(`${what}; output so far:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the README walk-through works against walcast dev as written', async () => {
  const walcast = await startWalcast({ config: join(root, 'config', 'walcast.toml') });
  const script = join(here, `walkthrough-${process.pid}.mjs`);
  writeFileSync(script, block('walkthrough.mjs'));
  const env = {
    ...process.env,
    REALTIME_URL: walcast.realtimeUrl,
    DATABASE_URL: walcast.databaseUrl,
    VISITOR_TOKEN: walcast.banner.VISITOR_TOKEN,
    AGENT_TOKEN: walcast.banner.AGENT_TOKEN,
    TENANT_ID: walcast.banner.TENANT_ID,
    CONVERSATION_ID: walcast.banner.CONVERSATION_ID,
  };
  for (const key of ['VISITOR_TOKEN', 'AGENT_TOKEN', 'TENANT_ID', 'CONVERSATION_ID']) {
    assert.ok(env[key], `walcast dev prints ${key}`);
  }
  const child = spawn(process.execPath, [script], { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    const parts = buffer.split('\n');
    buffer = parts.pop();
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk) => process.stderr.write(chunk));
  try {
    await until(lines, (l) => l.filter((x) => x.endsWith('SUBSCRIBED')).length === 3, 'three channels subscribed');

    // The sh block: each `psql "$DATABASE_URL" -c "..."` command, run as written by a shell.
    execFileSync('bash', ['-euo', 'pipefail', '-c', block('walkthrough.sql')], { env, stdio: 'inherit' });

    await until(lines, (l) => l.includes('agent sees agent: Let me check that for you') && l.includes('visitor sees agent: Let me check that for you'), 'both see the reply');
    const events = lines.filter((l) => !l.endsWith('SUBSCRIBED'));
    assert.deepEqual(
      events.filter((l) => l.startsWith('visitor')),
      ['visitor sees visitor: Hi, my order is late', 'visitor sees agent: Let me check that for you'],
    );
    assert.deepEqual(
      events.filter((l) => l.startsWith('agent')),
      [
        'agent sees visitor: Hi, my order is late',
        'agent sees conversation waiting -> active',
        'agent sees agent: Let me check that for you',
      ],
    );
  } finally {
    child.kill();
    rmSync(script, { force: true });
    await walcast.stop();
  }
});
