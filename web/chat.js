// What the widget and the dashboard share: the dev API client, the
// realtime connection, a message list that merges live events with
// refetched history, typing state, and the live/reconnecting indicator.
//
// The pages write through the dev API (the application's backend) and read
// through walcast with the official client (`/demo/vendor/supabase.js`, the
// browser build of @supabase/supabase-js). Every time a channel reaches
// SUBSCRIBED, first join or rejoin after a reconnect, the page refetches
// what it shows and merges by id, so nothing committed while it was away is
// missing from the screen and nothing shows twice.

/** A failed dev API call; `status` is the HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the dev API; resolves with the JSON answer (or null for 204). */
export async function api(path, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/dev/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `walcast is not reachable (${err.message})`);
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer.error ?? response.statusText);
  return answer;
}

/** A realtime client for this page's walcast, authenticated with `token`. */
export function connectRealtime(token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const client = new window.supabase.RealtimeClient(`${scheme}://${location.host}/realtime/v1`, {
    params: { apikey: token },
    heartbeatIntervalMs: 5000,
    // Come back quickly after a restart of walcast dev.
    reconnectAfterMs: (tries) => [250, 500, 1000, 2000][tries - 1] ?? 3000,
  });
  client.setAuth(token);
  return client;
}

/** Subscribes; `onSubscribed` runs on the first join and on every rejoin. */
export function subscribe(channel, onSubscribed) {
  channel.subscribe((status, err) => {
    if (status === 'SUBSCRIBED') {
      onSubscribed?.();
    } else if (err) {
      console.warn(`${channel.topic}: ${status}`, err);
    }
  });
  return channel;
}

/**
 * The three channels of one conversation: new messages, updates of the
 * conversation row, and typing (broadcast from clients and services, and
 * typing_indicators rows).
 */
export function conversationChannels(client, id, handlers) {
  const messages = client
    .channel(`conversation:${id}:messages`)
    .on(
      'postgres_changes',
      { event: 'INSERT', schema: 'public', table: 'messages', filter: `conversation_id=eq.${id}` },
      (change) => handlers.onMessage(change.new),
    );
  const updates = client
    .channel(`conversation:${id}:updates`)
    .on(
      'postgres_changes',
      { event: 'UPDATE', schema: 'public', table: 'conversations', filter: `id=eq.${id}` },
      (change) => handlers.onUpdate(change.new, change.old ?? {}),
    );
  const typing = client
    .channel(`conversation:${id}:typing`, { config: { broadcast: { self: false } } })
    .on('broadcast', { event: 'typing' }, ({ payload }) => handlers.onTyping(payload, null))
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'typing_indicators', filter: `conversation_id=eq.${id}` },
      (change) => change.new && handlers.onTyping(change.new, change.new.updated_at),
    );
  subscribe(messages, handlers.onMessagesSubscribed);
  subscribe(updates, handlers.onUpdatesSubscribed);
  subscribe(typing);
  return { messages, updates, typing, all: [messages, updates, typing] };
}

/** Sorts by commit order: created_at (to the microsecond), then id. */
function orderKey(message) {
  const text = String(message.created_at ?? '');
  const millis = Date.parse(text);
  const fraction = text.match(/\.(\d+)/)?.[1] ?? '';
  const micros = Number(fraction.padEnd(6, '0').slice(3, 6)) || 0;
  return (Number.isNaN(millis) ? 0 : millis) * 1000 + micros;
}

/** The messages of one conversation, merged by id and kept in order. */
export class MessageList {
  constructor(container, describe) {
    this.container = container;
    this.describe = describe; // message → { side, label }
    this.byId = new Map();
  }

  /** Adds or replaces messages; returns the ones that were new. */
  merge(messages) {
    const added = [];
    for (const message of messages) {
      if (!message?.id) continue;
      if (!this.byId.has(message.id)) added.push(message);
      this.byId.set(message.id, message);
    }
    if (added.length) this.render();
    return added;
  }

  clear() {
    this.byId.clear();
    this.render();
  }

  render() {
    const sorted = [...this.byId.values()].sort(
      (a, b) => orderKey(a) - orderKey(b) || String(a.id).localeCompare(String(b.id)),
    );
    const nearBottom =
      this.container.scrollHeight - this.container.scrollTop - this.container.clientHeight < 80;
    this.container.replaceChildren(...sorted.map((m) => this.element(m)));
    if (nearBottom || sorted.length <= 1) this.scrollToEnd();
  }

  element(message) {
    if (message.sender_type === 'notice') {
      return h('div', { class: 'notice', 'data-notice': message.id }, message.body);
    }
    const { side, label } = this.describe(message);
    const placement = message.sender_type === 'system' ? 'center' : side;
    const item = h('div', { class: `msg msg-${placement} from-${message.sender_type}`, 'data-id': message.id });
    if (message.sender_type === 'system') {
      item.append(h('span', { class: 'msg-body' }, message.body));
      return item;
    }
    item.append(
      h('div', { class: 'msg-meta' }, `${label} · ${formatTime(message.created_at)}`),
      h('div', { class: 'msg-body' }, message.body),
    );
    return item;
  }

  /** A line of the page's own ("You're now connected to …"), not stored. */
  notice(text) {
    this.notices = (this.notices ?? 0) + 1;
    const id = `notice-${this.notices}`;
    this.merge([{ id, sender_type: 'notice', body: text, created_at: new Date().toISOString() }]);
    this.scrollToEnd();
  }

  scrollToEnd() {
    this.container.scrollTop = this.container.scrollHeight;
  }
}

/**
 * Who is typing. A broadcast counts for 6 s unless renewed; a
 * typing_indicators row older than 10 s stops counting.
 */
export class TypingState {
  constructor(selfId, onChange) {
    this.selfId = selfId;
    this.onChange = onChange;
    this.until = new Map(); // participant_id → { type, until }
    this.timer = setInterval(() => this.expire(), 1000);
  }

  update({ participant_id, participant_type, is_typing }, updatedAt) {
    if (!participant_id || participant_id === this.selfId) return;
    const since = updatedAt ? Date.parse(updatedAt) : Date.now();
    const until = since + (updatedAt ? 10_000 : 6_000);
    if (is_typing && until > Date.now()) {
      this.until.set(participant_id, { type: participant_type, until });
    } else {
      this.until.delete(participant_id);
    }
    this.onChange(this.typing());
  }

  expire() {
    const now = Date.now();
    let changed = false;
    for (const [id, { until }] of this.until) {
      if (until <= now) {
        this.until.delete(id);
        changed = true;
      }
    }
    if (changed) this.onChange(this.typing());
  }

  clear() {
    this.until.clear();
    this.onChange([]);
  }

  typing() {
    return [...this.until.entries()].map(([id, { type }]) => ({ id, type }));
  }
}

/**
 * Sends `typing` broadcasts while the user types: true at once and every
 * 3 s while typing goes on, false after 4 s without a key or on send.
 */
export class TypingSender {
  constructor(participant) {
    this.participant = participant; // { participant_id, participant_type }
    this.channel = null;
    this.lastSent = 0;
    this.idleTimer = null;
  }

  keystroke() {
    const now = Date.now();
    if (now - this.lastSent > 3000) {
      this.send(true);
      this.lastSent = now;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), 4000);
  }

  stop() {
    clearTimeout(this.idleTimer);
    if (this.lastSent) this.send(false);
    this.lastSent = 0;
  }

  send(isTyping) {
    // Only on a joined channel: otherwise the client falls back to HTTP.
    if (this.channel?.state !== 'joined') return;
    this.channel.send({
      type: 'broadcast',
      event: 'typing',
      payload: { ...this.participant, is_typing: isTyping },
    });
  }
}

/**
 * Drives a status pill from the socket and the channels: "Live" when the
 * socket is open and every channel joined, else "Connecting…" (before the
 * first time live) or "Reconnecting…".
 */
export function watchLiveness(client, channels, pill) {
  let wasLive = false;
  const update = () => {
    const list = channels();
    const live = client.isConnected() && list.length > 0 && list.every((c) => c.state === 'joined');
    wasLive ||= live;
    const state = live ? 'live' : wasLive ? 'reconnecting' : 'connecting';
    if (pill.dataset.state !== state) {
      pill.dataset.state = state;
      pill.textContent = { live: 'Live', reconnecting: 'Reconnecting…', connecting: 'Connecting…' }[state];
    }
  };
  update();
  return setInterval(update, 300);
}

/** Creates an element with attributes and text or child nodes. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) element.append(child);
  }
  return element;
}

export function formatTime(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime())
    ? ''
    : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Reads and writes a JSON value in localStorage. */
export const stored = {
  get(key) {
    try {
      return JSON.parse(localStorage.getItem(key) ?? 'null');
    } catch {
      return null;
    }
  },
  set(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
  },
  remove(key) {
    localStorage.removeItem(key);
  },
};

/** Shows a fatal problem in place of the page. */
export function showProblem(text) {
  const box = document.getElementById('problem');
  if (box) {
    box.textContent = text;
    box.hidden = false;
  }
}
