// B3 baseline (a): Bun.serve (uWebSockets) with topic pub/sub, the box's
// broadcast ceiling. It speaks just enough of the Phoenix protocol for the
// load harness's clients (crates/bench/src/load/subscribers.rs): an ok
// `phx_reply` to `phx_join` (subscribing the socket to the topic),
// `heartbeat` and `phx_leave`. A publisher socket on /publish sends
// `<topic>\n<payload>` per message (crates/bench/src/load/publisher.rs);
// the payload is walcast's postgres_changes payload with the message's
// `created_at`, and the server publishes one frame
// `[null,null,<topic>,"postgres_changes",<payload>]` to the topic, encoded
// once, written by uWS to every subscriber. No PostgreSQL on this path.
//
//   PORT=4100 bun bun_publish.js
const port = Number(process.env.PORT ?? 4100);

function reply(ws, joinRef, ref, topic, response) {
  ws.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response }]));
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const publisher = new URL(req.url).pathname === '/publish';
    if (server.upgrade(req, { data: { publisher } })) return undefined;
    return new Response('upgrade required', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    idleTimeout: 120, // clients heartbeat every 25 s
    message(ws, message) {
      const text = typeof message === 'string' ? message : message.toString();
      if (ws.data.publisher) {
        const newline = text.indexOf('\n');
        const topic = text.slice(0, newline);
        const frame = `[null,null,${JSON.stringify(topic)},"postgres_changes",${text.slice(newline + 1)}]`;
        server.publish(topic, frame);
        return;
      }
      const [joinRef, ref, topic, event, payload] = JSON.parse(text);
      if (event === 'phx_join') {
        ws.subscribe(topic);
        const bindings = (payload?.config?.postgres_changes ?? []).map((b, i) => ({ id: i + 1, ...b }));
        reply(ws, joinRef, ref, topic, { postgres_changes: bindings });
      } else if (event === 'phx_leave') {
        ws.unsubscribe(topic);
        reply(ws, joinRef, ref, topic, {});
      } else if (event === 'heartbeat') {
        reply(ws, joinRef, ref, topic, {});
      }
    },
  },
});
console.log(`bun ${Bun.version} listening on ${server.hostname}:${server.port}`);
