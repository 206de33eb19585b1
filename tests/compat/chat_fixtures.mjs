// Shared pieces of the chat product's end-to-end tests (chat_*.test.mjs):
// the product configuration, the tokens each kind of user holds, SQL
// helpers, and join outcomes in the official client's terms. Not a test
// file itself (node --test only picks up *.test.mjs).

import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { subscribe, token } from './harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The chat product's configuration: deny by default, routes and row policies. */
export const PRODUCT_CONFIG = join(root, 'config', 'walcast.toml');

/** Tokens of the chat product's users, signed with the dev secret. */
export const tokens = {
  visitor: (conversationId, tenantId, visitorId = 'visitor-1') =>
    token({ role: 'visitor', sub: visitorId, tenant_id: tenantId, conversation_id: conversationId }),
  agent: (tenantId, agentId = 'agent-1') => token({ role: 'agent', sub: agentId, tenant_id: tenantId }),
  service: () => token({ role: 'service_role' }),
  anon: () => token({ role: 'anon' }),
};

/** A SQL string literal. */
export const lit = (text) => `'${String(text).replaceAll("'", "''")}'`;

/** Creates a conversation and returns its id. */
export function createConversation(walcast, tenantId, visitorId = 'visitor-1') {
  return walcast.psql(`INSERT INTO conversations (tenant_id, visitor_id) VALUES (${lit(tenantId)}, ${lit(visitorId)}) RETURNING id`);
}

/** `to_jsonb(row)` of one row, read in a UTC session: what walcast's typed
 * record must equal. */
export function rowJson(walcast, table, id) {
  const text = walcast.psql(`SET TimeZone = 'UTC'; SELECT to_jsonb(t) FROM ${table} t WHERE id = ${lit(id)}`);
  assert.ok(text, `no ${table} row ${id}`);
  return JSON.parse(text);
}

/** SQL emitting a transactional `walcast` logical message (a broadcast). */
export function emitSql(topic, event, payload, transactional = true) {
  return `SELECT pg_logical_emit_message(${transactional}, 'walcast', ${lit(JSON.stringify({ topic, event, payload }))})`;
}

/** Subscribes and expects SUBSCRIBED. */
export async function expectJoined(channel, what = channel.topic) {
  const { status, err } = await subscribe(channel);
  assert.equal(status, 'SUBSCRIBED', `${what}: ${err?.message ?? status}`);
}

/** Subscribes, expects CHANNEL_ERROR whose reason matches `reason`, and
 * removes the channel (so that the client does not retry the join). */
export async function expectRefused(client, channel, reason = /^Unauthorized: /) {
  const { status, err } = await subscribe(channel);
  await client.removeChannel(channel);
  assert.equal(status, 'CHANNEL_ERROR', `${channel.topic} should be refused, got ${status}`);
  assert.match(err?.message ?? '', reason, `${channel.topic}: refusal reason`);
  return err.message;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const COMMIT_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
