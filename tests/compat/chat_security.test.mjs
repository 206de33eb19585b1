// The chat product's access rules end to end (config/walcast.toml), through
// @supabase/realtime-js 2.109.0: every kind of token × every kind of
// channel × raw postgres_changes bindings with tricky filters. Joins are
// allowed or refused as the config says; then rows of two tenants are
// written and what each joined channel received is counted exactly,
// binding by binding, against a model of the routes and row policies.
// Above all: no token ever receives a row of another tenant, and a
// visitor nothing of another conversation.
//
// One walcast, one socket per token kind for the channels with bindings
// and one for the same topics joined without bindings (routed topics then
// deliver their table's changes as broadcast events). A transactional
// logical message to every topic, committed last, is the barrier that says
// delivery is complete.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startWalcast, subscribe, token } from './harness.mjs';
import { PRODUCT_CONFIG, lit, emitSql } from './chat_fixtures.mjs';

let walcast;

// Two tenants; A1 and A2 are conversations of TA, B1 of TB. The visitor
// holds A1; the agent belongs to TA.
const TA = randomUUID();
const TB = randomUUID();
const TC = randomUUID(); // created during the traffic: nobody's tenant
const A1 = randomUUID();
const A2 = randomUUID();
const B1 = randomUUID();
const A3 = randomUUID(); // created and deleted during the traffic
const B2 = randomUUID();
const [M1, M2, M3] = [randomUUID(), randomUUID(), randomUUID()];
const LABELS = new Map(Object.entries({ TA, TB, TC, A1, A2, B1, A3, B2, M1, M2, M3 }).map(([k, v]) => [v, k]));
const label = (text) => text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => LABELS.get(id) ?? id);

// ---------------------------------------------------------------------------
// Token kinds and what config/walcast.toml lets each of them do.
// ---------------------------------------------------------------------------

const now = () => Math.floor(Date.now() / 1000);
const KINDS = {
  visitor: { token: () => token({ role: 'visitor', sub: 'visitor-a1', tenant_id: TA, conversation_id: A1 }) },
  agent: { token: () => token({ role: 'agent', sub: 'agent-a', tenant_id: TA }) },
  service_role: { token: () => token({ role: 'service_role' }) },
  anon: { token: () => token({ role: 'anon' }) },
  authenticated: { token: () => token({ role: 'authenticated', sub: 'user-1', tenant_id: TA, conversation_id: A1 }) },
  'no role': { token: () => token({ sub: 'who-knows', tenant_id: TA }), refusal: /^InvalidJWTToken: / },
  expired: { token: () => token({ role: 'agent', sub: 'agent-a', tenant_id: TA, exp: now() - 60 }), refusal: /^InvalidJWTToken: Token has expired \d+ seconds ago$/ },
};

// Topic label → [topic, route]. route: the table and filter a routed topic
// carries ({ table: null } for a route without a table); null: unrouted.
const conv = (id, kind, table, column) => [`conversation:${id}:${kind}`, { table, column, value: id }];
const TOPICS = {
  'A1 messages': conv(A1, 'messages', 'messages', 'conversation_id'),
  'A1 updates': conv(A1, 'updates', 'conversations', 'id'),
  'A1 typing': conv(A1, 'typing', 'typing_indicators', 'conversation_id'),
  'A2 messages': conv(A2, 'messages', 'messages', 'conversation_id'),
  'A2 updates': conv(A2, 'updates', 'conversations', 'id'),
  'A2 typing': conv(A2, 'typing', 'typing_indicators', 'conversation_id'),
  'B1 messages': conv(B1, 'messages', 'messages', 'conversation_id'),
  'B1 updates': conv(B1, 'updates', 'conversations', 'id'),
  'B1 typing': conv(B1, 'typing', 'typing_indicators', 'conversation_id'),
  'not-a-uuid messages': ['conversation:not-a-uuid:messages', { table: 'messages', column: 'conversation_id', value: 'not-a-uuid' }],
  'TA conversations': [`tenant:${TA}:conversations`, { table: 'conversations', column: 'tenant_id', value: TA }],
  'TA agents': [`tenant:${TA}:agents`, { table: null }],
  'TB conversations': [`tenant:${TB}:conversations`, { table: 'conversations', column: 'tenant_id', value: TB }],
  'TB agents': [`tenant:${TB}:agents`, { table: null }],
  'room:1': ['room:1', null],
};
const ALL_TOPICS = Object.keys(TOPICS);

const ALLOWED = {
  visitor: ['A1 messages', 'A1 updates', 'A1 typing'],
  agent: ['A1 messages', 'A1 updates', 'A1 typing', 'A2 messages', 'A2 updates', 'A2 typing', 'TA conversations', 'TA agents'],
  service_role: ALL_TOPICS,
  anon: ['room:1'],
  authenticated: ['room:1'],
  'no role': [],
  expired: [],
};

// Row policies of config/walcast.toml, as predicates over the columns a
// change is tested on (new row; old row of a DELETE). A column the tested
// row lacks fails (unknown is not visible). null: the table is hidden.
const has = (cols, column) => Object.prototype.hasOwnProperty.call(cols, column);
const eq = (column, value) => (cols) => has(cols, column) && cols[column] === value;
const POLICIES = {
  service_role: () => () => true,
  visitor: (table) => ({ messages: eq('conversation_id', A1), conversations: eq('id', A1), typing_indicators: eq('conversation_id', A1) })[table] ?? null,
  agent: (table) => ({ messages: eq('tenant_id', TA), conversations: eq('tenant_id', TA), tenants: eq('id', TA), typing_indicators: () => true })[table] ?? null,
  anon: () => null,
  authenticated: () => null,
  'no role': () => null,
  expired: () => null,
};

// What a token may ever see, whatever the config: the invariant.
const MAY_EVER_SEE = {
  service_role: () => true,
  visitor: (event) => event.owner.conversation === A1,
  agent: (event) => event.owner.tenant === TA,
  anon: () => false,
  authenticated: () => false,
  'no role': () => false,
  expired: () => false,
};

// Raw bindings every channel declares (schema "public" and event "*" unless said).
const BINDINGS = {
  messages: { table: 'messages' },
  conversations: { table: 'conversations' },
  typing: { table: 'typing_indicators' },
  tenants: { table: 'tenants' },
  'messages tenant_id=neq.TA': { table: 'messages', filter: `tenant_id=neq.${TA}` },
  'conversations tenant_id=neq.TA': { table: 'conversations', filter: `tenant_id=neq.${TA}` },
  'table *': { table: '*' },
  'schema * table *': { schema: '*', table: '*' },
  'schema * messages': { schema: '*', table: 'messages' },
  'messages tenant_id=in.(TA,TB)': { table: 'messages', filter: `tenant_id=in.(${TA},${TB})` },
  'conversations tenant_id=in.(TB,TA)': { table: 'conversations', filter: `tenant_id=in.(${TB},${TA})` },
  'messages conversation_id=in.(A1,A2,B1)': { table: 'messages', filter: `conversation_id=in.(${A1},${A2},${B1})` },
  'typing conversation_id=in.(A1,B1)': { table: 'typing_indicators', filter: `conversation_id=in.(${A1},${B1})` },
  'conversations id=in.(A1,B1)': { table: 'conversations', filter: `id=in.(${A1},${B1})` },
  'tenants id=in.(TA,TB)': { table: 'tenants', filter: `id=in.(${TA},${TB})` },
};

function filterPredicate(filter) {
  if (!filter) return () => true;
  const [, column, op, value] = filter.match(/^(\w+)=(eq|neq|in)\.(.*)$/);
  const values = op === 'in' ? value.slice(1, -1).split(',') : [value];
  return (cols) => has(cols, column) && (op === 'neq' ? cols[column] !== value : values.includes(cols[column]));
}

// ---------------------------------------------------------------------------
// The traffic: each step one transaction, with the changes it makes. `cols`
// are the columns a filter sees; `owner` whose row it is.
// ---------------------------------------------------------------------------

const message = (id, conversation, tenant) => ({
  sql: `INSERT INTO messages (id, conversation_id, tenant_id, sender_type, sender_id, body) VALUES (${lit(id)}, ${lit(conversation)}, ${lit(tenant)}, 'agent', 'x', 'hello')`,
  changes: [{ table: 'messages', op: 'INSERT', key: id, cols: { id, conversation_id: conversation, tenant_id: tenant }, owner: { tenant, conversation } }],
});
const newConversation = (id, tenant) => ({
  sql: `INSERT INTO conversations (id, tenant_id, visitor_id) VALUES (${lit(id)}, ${lit(tenant)}, 'v')`,
  change: { table: 'conversations', op: 'INSERT', key: id, cols: { id, tenant_id: tenant }, owner: { tenant, conversation: id } },
});
const conversationUpdate = (id, tenant) => ({
  sql: `UPDATE conversations SET status = 'active', assigned_agent_id = 'someone' WHERE id = ${lit(id)}`,
  changes: [{ table: 'conversations', op: 'UPDATE', key: id, cols: { id, tenant_id: tenant }, owner: { tenant, conversation: id } }],
});
const typingRow = (conversation, tenant, participant, isTyping, op) => ({
  sql: `INSERT INTO typing_indicators (conversation_id, participant_id, participant_type, is_typing) VALUES (${lit(conversation)}, ${lit(participant)}, 'agent', ${isTyping})
        ON CONFLICT (conversation_id, participant_id) DO UPDATE SET is_typing = EXCLUDED.is_typing, updated_at = now()`,
  changes: [{ table: 'typing_indicators', op, key: `${conversation}/${participant}`, cols: { conversation_id: conversation, participant_id: participant }, owner: { tenant, conversation } }],
});
const tenantRename = (id) => ({
  sql: `UPDATE tenants SET name = name || ' (renamed)' WHERE id = ${lit(id)}`,
  changes: [{ table: 'tenants', op: 'UPDATE', key: id, cols: { id }, owner: { tenant: id } }],
});

const A3row = newConversation(A3, TA);
const B2row = newConversation(B2, TB);
const TRAFFIC = [
  message(M1, A1, TA),
  message(M2, A2, TA),
  message(M3, B1, TB),
  { sql: `${A3row.sql}; ${B2row.sql}`, changes: [A3row.change, B2row.change] },
  conversationUpdate(A1, TA),
  conversationUpdate(A2, TA),
  conversationUpdate(B1, TB),
  typingRow(A1, TA, 'a1', true, 'INSERT'),
  typingRow(A2, TA, 'a2', true, 'INSERT'),
  typingRow(B1, TB, 'b1', true, 'INSERT'),
  typingRow(B1, TB, 'b1', false, 'UPDATE'),
  tenantRename(TA),
  tenantRename(TB),
  {
    sql: `INSERT INTO tenants VALUES (${lit(TC)}, 'initech')`,
    changes: [{ table: 'tenants', op: 'INSERT', key: TC, cols: { id: TC }, owner: { tenant: TC } }],
  },
  // REPLICA IDENTITY DEFAULT: a DELETE carries the key only, so no
  // tenant or conversation filter can pass it.
  {
    sql: `DELETE FROM messages WHERE id = ${lit(M3)}`,
    changes: [{ table: 'messages', op: 'DELETE', key: M3, cols: { id: M3 }, owner: { tenant: TB, conversation: B1 } }],
  },
  {
    sql: `DELETE FROM messages WHERE id = ${lit(M1)}`,
    changes: [{ table: 'messages', op: 'DELETE', key: M1, cols: { id: M1 }, owner: { tenant: TA, conversation: A1 } }],
  },
  // conversations has REPLICA IDENTITY FULL: the old row is tested.
  {
    sql: `DELETE FROM conversations WHERE id = ${lit(A3)}`,
    changes: [{ table: 'conversations', op: 'DELETE', key: A3, cols: { id: A3, tenant_id: TA }, owner: { tenant: TA, conversation: A3 } }],
  },
  {
    sql: `DELETE FROM conversations WHERE id = ${lit(B2)}`,
    changes: [{ table: 'conversations', op: 'DELETE', key: B2, cols: { id: B2, tenant_id: TB }, owner: { tenant: TB, conversation: B2 } }],
  },
];
const CHANGES = TRAFFIC.flatMap((step) => step.changes);
const changeKey = (table, op, key) => label(`${table} ${op} ${key}`);
const CHANGE_BY_KEY = new Map(CHANGES.map((c) => [changeKey(c.table, c.op, c.key), c]));

function rowKey(table, row) {
  return table === 'typing_indicators' ? `${row?.conversation_id}/${row?.participant_id}` : row?.id;
}

// ---------------------------------------------------------------------------
// The model: what a channel should receive.
// ---------------------------------------------------------------------------

function routeAllows(route, change) {
  // A routed topic that names no table (presence/broadcast rooms such as
  // tenant:<id>:agents) carries no row changes at all, for any role.
  if (!route) return true;
  if (route.table === null) return false;
  return change.table === route.table && has(change.cols, route.column) && change.cols[route.column] === route.value;
}

function policyAllows(kind, change) {
  const row = POLICIES[kind](change.table);
  return row !== null && row(change.cols);
}

/** What a channel of `kind` on `topicLabel` should receive through `binding`
 * (or, with binding null, as broadcast events of a routed topic): what the
 * routes and policies allow, and never a row the token may not see. */
function expected(kind, topicLabel, binding) {
  const [, route] = TOPICS[topicLabel];
  if (binding === null && !route?.table) return [];
  const schemaOk = !binding || (binding.schema ?? 'public') === '*' || (binding.schema ?? 'public') === 'public';
  const tableOk = (c) => !binding || binding.table === '*' || binding.table === c.table;
  const filterOk = filterPredicate(binding?.filter);
  return CHANGES.filter((c) => schemaOk && tableOk(c) && routeAllows(route, c) && policyAllows(kind, c) && filterOk(c.cols) && MAY_EVER_SEE[kind](c)).map((c) =>
    changeKey(c.table, c.op, c.key),
  );
}

// ---------------------------------------------------------------------------
// Clients and channels.
// ---------------------------------------------------------------------------

// kind → { bound: socket whose channels declare BINDINGS, bare: socket
// whose channels declare none }; each: topicLabel → channel record.
const sockets = {};

async function joinChannel(client, kind, topicLabel, withBindings) {
  const [topic] = TOPICS[topicLabel];
  const record = { kind, topicLabel, withBindings, received: {}, frames: [], snapshot: null, joined: false, reason: null };
  let resolveBarrier;
  record.barrier = new Promise((r) => (resolveBarrier = r));
  const onBarrier = () => {
    record.snapshot = { received: structuredClone(record.received), frames: [...record.frames] };
    resolveBarrier();
  };
  const channel = client.channel(topic);
  if (withBindings) {
    for (const [name, binding] of Object.entries(BINDINGS)) {
      record.received[name] = [];
      const params = { event: '*', schema: binding.schema ?? 'public', table: binding.table };
      if (binding.filter) params.filter = binding.filter;
      channel.on('postgres_changes', params, (p) => {
        const row = p.eventType === 'DELETE' ? p.old : p.new;
        record.received[name].push(changeKey(p.table, p.eventType, rowKey(p.table, row)));
      });
    }
    // With bindings, rows come as postgres_changes only, never also as broadcasts.
    record.received['broadcast besides the barrier'] = [];
    channel.on('broadcast', { event: '*' }, (p) => (p.event === 'barrier' ? onBarrier() : record.received['broadcast besides the barrier'].push(p.event)));
  } else {
    record.received.broadcast = [];
    channel.on('broadcast', { event: '*' }, (p) => {
      if (p.event === 'barrier') return onBarrier();
      const { table, operation, record: row, old_record: old } = p.payload ?? {};
      const key = changeKey(table, operation, rowKey(table, operation === 'DELETE' ? old : row));
      record.received.broadcast.push(p.event === operation ? key : `${key} (event ${p.event})`);
    });
  }
  const { status, err } = await subscribe(channel);
  record.joined = status === 'SUBSCRIBED';
  record.status = status;
  record.reason = err?.message ?? null;
  if (!record.joined) await client.removeChannel(channel);
  return record;
}

before(async () => {
  walcast = await startWalcast({ config: PRODUCT_CONFIG });
  walcast.psql(`INSERT INTO tenants VALUES (${lit(TA)}, 'acme'), (${lit(TB)}, 'globex');
    INSERT INTO conversations (id, tenant_id, visitor_id) VALUES (${lit(A1)}, ${lit(TA)}, 'visitor-a1'), (${lit(A2)}, ${lit(TA)}, 'visitor-a2'), (${lit(B1)}, ${lit(TB)}, 'visitor-b1')`);
  // These rows are history: no channel joined below may get them as news.
  await walcast.sync();
});
after(async () => walcast?.stop());

test('joins: every token kind is allowed or refused on every channel exactly as config/walcast.toml says', async () => {
  const kinds = Object.keys(KINDS);
  await Promise.all(
    kinds.map(async (kind, i) => {
      sockets[kind] = {};
      for (const form of ['bound', 'bare']) {
        // Connect as the anon key, act as the token (setAuth → access_token), like an app.
        const client = walcast.client({ vsn: i % 2 ? '1.0.0' : '2.0.0', apikey: token({ role: 'anon' }) });
        await client.setAuth(KINDS[kind].token());
        const records = await Promise.all(ALL_TOPICS.map((t) => joinChannel(client, kind, t, form === 'bound')));
        sockets[kind][form] = Object.fromEntries(records.map((r) => [r.topicLabel, r]));
      }
    }),
  );
  const decisions = (form) =>
    Object.fromEntries(kinds.map((kind) => [kind, ALL_TOPICS.filter((t) => sockets[kind][form][t].joined)]));
  const want = Object.fromEntries(kinds.map((kind) => [kind, ALL_TOPICS.filter((t) => ALLOWED[kind].includes(t))]));
  assert.deepEqual(decisions('bound'), want, 'joins with postgres_changes bindings');
  assert.deepEqual(decisions('bare'), want, 'joins without bindings');

  const badReasons = [];
  for (const kind of kinds) {
    for (const form of ['bound', 'bare']) {
      for (const record of Object.values(sockets[kind][form])) {
        if (record.joined) continue;
        const reason = KINDS[kind].refusal ?? /^Unauthorized: /;
        if (record.status !== 'CHANNEL_ERROR' || !reason.test(record.reason ?? '')) {
          badReasons.push(`${kind} ${form} ${record.topicLabel}: ${record.status} ${label(String(record.reason))}`);
        }
      }
    }
  }
  assert.deepEqual(badReasons, [], 'refusals are CHANNEL_ERROR with the reason');
});

test('traffic of two tenants is written, and the barrier reaches every joined channel', async () => {
  for (const step of TRAFFIC) walcast.psql(step.sql);
  const joined = Object.values(sockets).flatMap((s) => [...Object.values(s.bound), ...Object.values(s.bare)]).filter((r) => r.joined);
  assert.ok(joined.length > 0);
  const topics = [...new Set(joined.map((r) => TOPICS[r.topicLabel][0]))];
  walcast.psql(`BEGIN; ${topics.map((t) => emitSql(t, 'barrier', {})).join('; ')}; COMMIT;`);
  const timeout = new Promise((r) => setTimeout(r, 10_000, 'timeout'));
  const late = [];
  await Promise.all(joined.map(async (r) => ((await Promise.race([r.barrier, timeout])) === 'timeout' ? late.push(`${r.kind} ${r.topicLabel} ${r.withBindings ? 'bound' : 'bare'}`) : null)));
  assert.deepEqual(late, [], 'channels without the barrier after 10 s');
});

for (const kind of Object.keys(KINDS)) {
  test(`${kind}: never receives a row of another tenant${kind === 'visitor' ? ' or conversation' : ''}`, () => {
    const leaks = [];
    for (const form of ['bound', 'bare']) {
      for (const record of Object.values(sockets[kind]?.[form] ?? {})) {
        const received = record.snapshot?.received ?? record.received;
        for (const [binding, keys] of Object.entries(received)) {
          if (binding === 'broadcast besides the barrier') continue; // event names, checked below
          for (const key of keys) {
            const change = CHANGE_BY_KEY.get(key);
            if (!change || !MAY_EVER_SEE[kind](change)) leaks.push(`${record.topicLabel} [${binding}]: ${key}`);
          }
        }
      }
    }
    assert.deepEqual(leaks, [], `${kind} received rows it may never see`);
  });

  test(`${kind}: receives exactly what the routes and row policies allow, binding by binding, once and in commit order`, () => {
    const wrong = [];
    for (const form of ['bound', 'bare']) {
      for (const record of Object.values(sockets[kind]?.[form] ?? {})) {
        if (!record.joined) continue;
        const received = record.snapshot?.received ?? {};
        const bindings = form === 'bound' ? [...Object.entries(BINDINGS), ['broadcast besides the barrier', 'none']] : [['broadcast', null]];
        for (const [name, binding] of bindings) {
          const want = binding === 'none' ? [] : expected(kind, record.topicLabel, binding);
          const got = received[name] ?? [];
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            wrong.push(`${record.topicLabel} [${name}]: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
          }
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
}

test('private channels are authorized like public ones', async () => {
  const cases = [
    ['visitor', 'A1 typing', true],
    ['visitor', 'A2 typing', false],
    ['visitor', 'B1 messages', false],
    ['agent', 'A2 updates', true],
    ['agent', 'B1 typing', false],
    ['agent', 'TB agents', false],
    ['anon', 'A1 messages', false],
  ];
  const outcomes = [];
  for (const [kind, topicLabel, allowed] of cases) {
    const client = walcast.client({ apikey: token({ role: 'anon' }) });
    await client.setAuth(KINDS[kind].token());
    const channel = client.channel(TOPICS[topicLabel][0], { config: { private: true } });
    const { status, err } = await subscribe(channel);
    outcomes.push([kind, topicLabel, status === 'SUBSCRIBED']);
    if (!allowed) assert.match(err?.message ?? '', /^Unauthorized: /, `${kind} ${topicLabel}`);
    await client.removeAllChannels();
    client.disconnect();
  }
  assert.deepEqual(outcomes, cases);
});
