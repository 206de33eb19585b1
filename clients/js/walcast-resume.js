// walcast-resume: gap-free reconnects for @supabase/realtime-js channels.
//
//   import { resumable } from './walcast-resume.js';
//   resumable(client.channel('room').on('postgres_changes', filter, onChange)).subscribe();
//
// walcast puts a position on every change it delivers (`data.position` of a
// postgres_changes message, `meta.position` of a routed topic's INSERT /
// UPDATE / DELETE broadcast). A join that carries `config.resume =
// {position}` gets exactly the changes the channel missed, then live ones.
// This helper remembers the last position of the channel and puts it into
// every (re)join that realtime-js sends by itself: after a socket
// reconnect, after a channel error, after a join timeout.
//
// When walcast cannot replay (the position is older than its replay window,
// or from another database) it says so with a `system` message starting
// `ResumeUnavailable:`; the channel stays live and the application should
// refetch: `onResumeUnavailable`.
//
// It relies on two pieces of realtime-js (checked with 2.109.0): the
// phoenix channel behind `channel.channelAdapter.getChannel()`, whose
// `joinPush.payload()` builds each join and whose `trigger()` sees every
// message of the channel before realtime-js reshapes it. No dependencies;
// browsers and Node.

const RESUME_UNAVAILABLE = 'ResumeUnavailable';

/**
 * Makes `channel` resume from its last position on every rejoin. Call it
 * before or after `subscribe()`; returns the channel.
 *
 * @param {import('@supabase/realtime-js').RealtimeChannel} channel
 * @param {object} [options]
 * @param {string} [options.position] resume from here on the first join
 *   (for example a position kept across a page reload)
 * @param {(message: {message: string, status: string, extension: string}) => void} [options.onResumeUnavailable]
 *   walcast could not replay what the channel missed: refetch
 * @param {(position: string) => void} [options.onPosition] after each event
 *   (to keep the position somewhere)
 * @returns the channel, with `channel.walcast` = {position, duplicatesDropped, onResumeUnavailable(cb)}
 */
export function resumable(channel, options = {}) {
  if (channel.walcast) return channel;
  const phoenix = channel.channelAdapter?.getChannel?.();
  const joinPush = phoenix?.joinPush;
  if (!phoenix || typeof phoenix.trigger !== 'function' || typeof joinPush?.payload !== 'function') {
    throw new Error('walcast-resume: this realtime-js has no phoenix channel adapter (checked with @supabase/realtime-js 2.109.0)');
  }

  let position = options.position ?? null;
  let duplicatesDropped = 0;
  const unavailable = new Set(options.onResumeUnavailable ? [options.onResumeUnavailable] : []);

  // Every join, the first and each rejoin, sends `joinPush.payload()`.
  // realtime-js replaces that function (subscribe, setAuth); keep whatever
  // it installs and add the position on the way out.
  let payloadOf = joinPush.payload;
  Object.defineProperty(joinPush, 'payload', {
    configurable: true,
    get: () => () => withResume(payloadOf(), position),
    set: (fn) => {
      payloadOf = fn;
    },
  });

  const trigger = phoenix.trigger;
  phoenix.trigger = function (event, payload, ref, joinRef) {
    const seen = positionOf(event, payload);
    if (seen) {
      // A rejoin on the same socket can cross changes still in flight to
      // the previous join: they are replayed too. Deliver each once.
      if (position && !isAfter(seen, position)) {
        duplicatesDropped++;
        return;
      }
      position = seen;
      options.onPosition?.(seen);
    }
    const result = trigger.call(this, event, payload, ref, joinRef);
    if (isResumeUnavailable(event, payload)) {
      // The position is kept: if the socket drops again before a new
      // change arrives, the next rejoin is told again, so nothing is
      // silently skipped.
      for (const callback of unavailable) callback(payload);
    }
    return result;
  };

  channel.walcast = {
    /** The position of the last change the channel delivered, or null. */
    get position() {
      return position;
    },
    /** Changes received twice and delivered once. */
    get duplicatesDropped() {
      return duplicatesDropped;
    },
    /** Registers a callback for `ResumeUnavailable`; returns an unregister function. */
    onResumeUnavailable(callback) {
      unavailable.add(callback);
      return () => unavailable.delete(callback);
    },
  };
  return channel;
}

/** The position a message carries: `data.position` (postgres_changes) or
 * `meta.position` (a routed topic's change broadcast). */
export function positionOf(event, payload) {
  if (event === 'postgres_changes') return payload?.data?.position ?? null;
  if (event === 'broadcast') return payload?.meta?.position ?? null;
  return null;
}

/** Whether position `a` comes after `b`. Positions are
 * `<epoch>/<lsn>.<index>` in fixed-width hex: within an epoch they sort as
 * strings; a position of another epoch (a new database or slot) is new. */
export function isAfter(a, b) {
  const slash = a.indexOf('/');
  if (slash < 0 || a.slice(0, slash + 1) !== b.slice(0, slash + 1)) return true;
  return a > b;
}

function withResume(payload, position) {
  const config = { ...payload?.config };
  if (position) config.resume = { position };
  else delete config.resume;
  return { ...payload, config };
}

function isResumeUnavailable(event, payload) {
  return (
    event === 'system' &&
    payload?.status === 'error' &&
    typeof payload.message === 'string' &&
    payload.message.startsWith(RESUME_UNAVAILABLE)
  );
}
