//! Direct writes and the queue together, over an in-memory pipe: every
//! frame arrives once and in the order it was sent, whichever path it
//! took.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, DuplexStream, duplex};

use super::*;
use crate::socket::Socket;

/// A connection whose socket writes into a pipe of `pipe` bytes, and the
/// client's end of that pipe.
fn connection(pipe: usize) -> (Connection, Outbox, DuplexStream, QueuedBytes) {
    let total = QueuedBytes::default();
    let limits = QueueLimits {
        frames: 100_000,
        bytes: 64 << 20,
    };
    let (connection, outbox) = Connection::new(1, Vsn::V2, limits, &total);
    let (server, client) = duplex(pipe);
    outbox.attach(Box::new(Socket::new(server, 1 << 20)));
    (connection, outbox, client, total)
}

fn binary(payload: Vec<u8>) -> Outbound {
    Outbound::Frame(ServerFrame::Binary(Bytes::from(payload)))
}

/// Reads one server frame's payload (binary, unmasked).
async fn read_frame(client: &mut DuplexStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.expect("header");
    assert_eq!(head[0], 0x82, "a final binary frame");
    let len = match head[1] {
        126 => usize::from(client.read_u16().await.expect("length")),
        127 => usize::try_from(client.read_u64().await.expect("length")).expect("length"),
        len => usize::from(len),
    };
    let mut payload = vec![0; len];
    client.read_exact(&mut payload).await.expect("payload");
    payload
}

#[tokio::test]
async fn a_frame_is_written_directly_when_nothing_waits() {
    let (connection, _outbox, mut client, total) = connection(1 << 16);
    // No writer runs: only a direct write can put the frame on the wire.
    assert!(connection.send(binary(b"hello".to_vec())));
    assert_eq!(total.get(), 0, "nothing was queued");
    assert_eq!(read_frame(&mut client).await, b"hello");
}

#[tokio::test]
async fn the_writer_finishes_a_partial_direct_write() {
    let (connection, outbox, mut client, total) = connection(100);
    let big = vec![7u8; 1000];
    assert!(connection.send(binary(big.clone())));
    assert_eq!(total.get(), 0, "written in part, not queued");
    // The rest waits in the socket: nothing may overtake it.
    assert!(connection.send(binary(b"next".to_vec())));
    assert!(total.get() > 0, "queued behind the partial frame");
    let mut writer = Writer::new(outbox.socket(), outbox);
    let reading = async {
        assert_eq!(read_frame(&mut client).await, big);
        assert_eq!(read_frame(&mut client).await, b"next");
        drop(connection);
    };
    tokio::join!(writer.run(), reading);
    assert_eq!(total.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_queued_frames_arrive_in_send_order() {
    const FRAMES: u32 = 20_000;
    // A small pipe and a client that pauses: the producer meets an idle
    // socket, a full one, a half-written frame and a busy writer in turn.
    let (connection, outbox, mut client, total) = connection(512);
    let mut writer = Writer::new(outbox.socket(), outbox);
    let writing = tokio::spawn(async move { writer.run().await });
    let producer = tokio::spawn(async move {
        for n in 0..FRAMES {
            let mut payload = n.to_be_bytes().to_vec();
            payload.resize(4 + (n as usize * 37) % 300, 0);
            assert!(connection.send(binary(payload)), "frame {n} taken");
            if n % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    for n in 0..FRAMES {
        if n % 4000 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let payload = read_frame(&mut client).await;
        let got = u32::from_be_bytes(payload[..4].try_into().expect("four bytes"));
        assert_eq!(got, n, "frames arrive in send order");
        assert_eq!(payload.len(), 4 + (n as usize * 37) % 300);
    }
    producer.await.expect("producer");
    writing.await.expect("writer");
    assert_eq!(total.get(), 0);
}

#[tokio::test]
async fn nothing_is_written_past_a_frame_the_writer_holds() {
    use futures_util::SinkExt;

    let (connection, outbox, mut client, total) = connection(1 << 16);
    // The socket is busy (a read, say): the first frame is queued.
    let busy = outbox.shared.socket();
    assert!(connection.send(binary(b"first".to_vec())));
    drop(busy);
    // The writer takes it; before it reaches the socket, a producer sends.
    let Some(Outbound::Frame(first)) = outbox.try_recv() else {
        panic!("the queued frame");
    };
    assert!(connection.send(binary(b"second".to_vec())));
    assert!(
        total.get() > 0,
        "queued behind the frame in the writer's hands"
    );
    let mut socket = outbox.socket();
    socket
        .send(Outgoing::Frame(first))
        .await
        .expect("the writer's frame");
    let mut writer = Writer::new(socket, outbox);
    let reading = async {
        assert_eq!(read_frame(&mut client).await, b"first");
        assert_eq!(read_frame(&mut client).await, b"second");
        drop(connection);
    };
    tokio::join!(writer.run(), reading);
}

#[tokio::test]
async fn a_fan_out_writes_its_frames_together_when_it_finishes() {
    let (connection, _outbox, mut client, total) = connection(1 << 16);
    let mut fan_out = FanOut::default();
    for n in 0u8..3 {
        assert!(connection.fan_out(binary(vec![n; 10]), &mut fan_out));
    }
    assert_eq!(total.get(), 30, "queued until the fan-out finishes");
    // Dropped, it finishes; no writer runs, so only a direct write can
    // have put the frames on the wire.
    drop(fan_out);
    assert_eq!(total.get(), 0);
    for n in 0u8..3 {
        assert_eq!(read_frame(&mut client).await, vec![n; 10]);
    }
}
