// The demo of `walcast dev` in a real browser: the chat widget and the
// agent dashboard side by side in headless Chromium (Debian's, driven by
// playwright-core), each in its own browser context like two people on two
// machines. A visitor writes, an agent takes the conversation, types and
// replies; then walcast restarts on the same port and data directory while
// a message is written that neither page was connected for. Both pages
// must come back live and show every message exactly once, in commit order.
//
// Screenshots land in tests/browser/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startWalcast, root } from './walcast.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(root, 'tests', 'browser', 'artifacts');
const WAIT = { timeout: 15_000 };

// This machine's network is closed: without these flags Chromium keeps
// trying to reach Google's services. Playwright gives every launch a
// fresh, empty user-data-dir of its own.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let dir;
let walcast;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'walcast-browser-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as `postgres` when we are root
  walcast = await startWalcast({ dataDir: join(dir, 'pgdata'), fresh: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await walcast?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens a page in its own context; page errors fail the test. */
async function openPage(url, errors) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`${url}: ${err.message}`));
  await page.goto(url);
  return { context, page };
}

const live = (page) => page.locator('#status[data-state="live"]').waitFor(WAIT);
const messageIds = (page) => page.$$eval('#messages .msg[data-id]', (els) => els.map((e) => e.dataset.id));
const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

/** Waits until a message with exactly `body` shows on `page`. */
function showsMessage(page, body) {
  return page.locator('#messages .msg .msg-body', { hasText: body }).first().waitFor(WAIT);
}

test('widget and dashboard: live chat, assignment, typing, and a restart of walcast', async () => {
  const errors = [];
  const dashboard = await openPage(`${walcast.base}/demo/dashboard?agent=Alice`, errors);
  const agent = dashboard.page;
  await live(agent);
  await agent.locator('#agents li', { hasText: 'Alice' }).waitFor(WAIT);

  const widget = await openPage(`${walcast.base}/demo/widget?name=Vera`, errors);
  const visitor = widget.page;
  await live(visitor);
  await visitor.locator('#agent-line', { hasText: 'Waiting for an agent' }).waitFor(WAIT);

  // The new conversation reaches the dashboard's list live (INSERT).
  const inboxItem = agent.locator('#conversations .conv', { hasText: 'Vera' });
  await inboxItem.waitFor(WAIT);

  // The visitor writes; the closed conversation counts it as unread.
  await visitor.locator('#input').fill('Hi! The pole of my new tent snapped.');
  await visitor.locator('#input').press('Enter');
  await showsMessage(visitor, 'Hi! The pole of my new tent snapped.');
  await inboxItem.locator('.badge', { hasText: '1' }).waitFor(WAIT);
  await shot(agent, '01-dashboard-unread');

  await inboxItem.click();
  await showsMessage(agent, 'Hi! The pole of my new tent snapped.');
  assert.equal(await inboxItem.locator('.badge').count(), 0, 'opening clears the unread badge');

  // Live into the open conversation.
  await visitor.locator('#input').fill('Can you send a replacement?');
  await visitor.locator('#input').press('Enter');
  await showsMessage(agent, 'Can you send a replacement?');

  // Assignment reaches the widget through the conversation's UPDATE.
  await agent.locator('#assign').click();
  await visitor.locator('.notice', { hasText: "You're now connected to Alice" }).waitFor(WAIT);
  await visitor.locator('#agent-line', { hasText: 'Chatting with Alice' }).waitFor(WAIT);
  await inboxItem.locator('.tag', { hasText: 'active' }).waitFor(WAIT);

  // Typing is a broadcast; the reply a row.
  await agent.locator('#input').pressSequentially('Sure, ', { delay: 20 });
  await visitor.locator('#typing', { hasText: 'Agent is typing…' }).waitFor(WAIT);
  await shot(visitor, '02-widget-agent-typing');
  await agent.locator('#input').pressSequentially('a new pole ships today.', { delay: 5 });
  await agent.locator('#input').press('Enter');
  await showsMessage(visitor, 'Sure, a new pole ships today.');
  await visitor.locator('#typing', { hasText: /^$/ }).waitFor(WAIT);
  await shot(visitor, '03-widget-reply');
  await shot(agent, '03-dashboard-reply');

  // Restart walcast. Both pages are kept offline meanwhile, so the
  // message written before they return was committed while they were not
  // connected: only the refetch on rejoin can bring it.
  const conversationId = walcast.psql("select id from conversations where subject = 'Vera'");
  await widget.context.setOffline(true);
  await dashboard.context.setOffline(true);
  const { port } = walcast;
  await walcast.stop();
  await visitor.locator('#status[data-state="reconnecting"]').waitFor(WAIT);
  await agent.locator('#status[data-state="reconnecting"]').waitFor(WAIT);
  await shot(visitor, '04-widget-reconnecting');
  walcast = await startWalcast({ dataDir: join(dir, 'pgdata'), port });
  assert.equal(walcast.port, port, 'walcast came back on the same port');
  walcast.psql(`
    with bumped as (update conversations set updated_at = now() where id = '${conversationId}' returning id, tenant_id, assigned_agent_id)
    insert into messages (conversation_id, tenant_id, sender_type, sender_id, body)
    select id, tenant_id, 'agent', assigned_agent_id, 'Written while you were away.' from bumped`);
  for (const page of [visitor, agent]) {
    assert.equal(await page.locator('#status').getAttribute('data-state'), 'reconnecting', 'offline until the message is written');
  }
  await widget.context.setOffline(false);
  await dashboard.context.setOffline(false);
  await live(visitor);
  await live(agent);
  await showsMessage(visitor, 'Written while you were away.');
  await showsMessage(agent, 'Written while you were away.');

  // Live again, both ways.
  await visitor.locator('#input').fill('Great, thanks!');
  await visitor.locator('#input').press('Enter');
  await showsMessage(agent, 'Great, thanks!');
  await agent.locator('#input').fill('You are welcome.');
  await agent.locator('#input').press('Enter');
  await showsMessage(visitor, 'You are welcome.');

  // Every committed message, once, in commit order, on both pages.
  const committed = walcast
    .psql(`select id from messages where conversation_id = '${conversationId}' order by created_at, id`)
    .split('\n');
  assert.equal(committed.length, 6);
  await visitor.waitForFunction((n) => document.querySelectorAll('#messages .msg[data-id]').length === n, committed.length, WAIT);
  await agent.waitForFunction((n) => document.querySelectorAll('#messages .msg[data-id]').length === n, committed.length, WAIT);
  assert.deepEqual(await messageIds(visitor), committed, 'the widget shows every message once, in order');
  assert.deepEqual(await messageIds(agent), committed, 'the dashboard shows every message once, in order');

  await shot(visitor, '05-widget-after-restart');
  await shot(agent, '05-dashboard-after-restart');
  await sideBySide(visitor, agent);
  assert.deepEqual(errors, [], 'no script errors on the pages');
  await widget.context.close();
  await dashboard.context.close();
});

/** One picture of both pages, for people reading the artifacts. */
async function sideBySide(left, right) {
  const [a, b] = await Promise.all([left.screenshot(), right.screenshot()]);
  const context = await browser.newContext({ viewport: { width: 2220, height: 780 } });
  const page = await context.newPage();
  const img = (png) => `<img src="data:image/png;base64,${png.toString('base64')}" style="width:1100px">`;
  await page.setContent(`<body style="margin:0;display:flex;gap:20px;background:#333">${img(a)}${img(b)}</body>`);
  await page.screenshot({ path: join(ARTIFACTS, 'side-by-side.png') });
  await context.close();
}
