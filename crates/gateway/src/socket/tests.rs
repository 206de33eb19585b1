use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;
use crate::protocol::{Vsn, encode};

const MASK: [u8; 4] = [9, 8, 7, 6];

/// A frame as a client sends it: masked.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    let start = out.len();
    out.extend_from_slice(payload);
    wsframe::apply_mask(&mut out[start..], MASK);
    out
}

/// A server socket and the client's end of the connection.
fn pair(pipe: usize, max_frame: usize) -> (Socket<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(pipe);
    (Socket::new(server, max_frame), client)
}

/// Reads one server frame (unmasked): opcode bits and payload.
async fn server_frame(client: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.expect("header");
    assert_eq!(head[0] & 0x80, 0x80, "server frames are final");
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = match head[1] & 0x7f {
        126 => usize::from(client.read_u16().await.expect("length")),
        127 => client.read_u64().await.expect("length") as usize,
        len => usize::from(len),
    };
    let mut payload = vec![0; len];
    client.read_exact(&mut payload).await.expect("payload");
    (head[0] & 0x0f, payload)
}

fn text(inbound: Option<Result<Inbound, ReadError>>) -> Bytes {
    match inbound {
        Some(Ok(Inbound::Text(text))) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_arrive_whole_however_the_bytes_are_split() {
    let (mut socket, mut client) = pair(1 << 20, 1 << 20);
    let big = "x".repeat(3 * READ_CHUNK + 17);
    let mut bytes = client_frame(true, 0x1, b"first");
    bytes.extend(client_frame(false, 0x1, big.as_bytes()));
    bytes.extend(client_frame(true, 0x0, b"!"));
    bytes.extend(client_frame(true, 0x2, &[1, 2, 3]));
    for piece in bytes.chunks(1000) {
        client.write_all(piece).await.expect("write");
    }
    assert_eq!(text(socket.next().await), "first");
    assert_eq!(text(socket.next().await), format!("{big}!"));
    match socket.next().await {
        Some(Ok(Inbound::Binary(bytes))) => assert_eq!(bytes, [1, 2, 3][..]),
        other => panic!("expected binary, got {other:?}"),
    }
    assert_eq!(socket.input.capacity(), 0, "nothing held between messages");
    drop(client);
    assert!(socket.next().await.is_none(), "end of stream");
}

#[tokio::test]
async fn a_frame_trickling_in_byte_by_byte_is_decoded_once_whole() {
    let (mut socket, mut client) = pair(1 << 16, 1 << 16);
    let bytes = client_frame(true, 0x1, "héllo".as_bytes());
    let reader = tokio::spawn(async move { text(socket.next().await) });
    for byte in bytes {
        client.write_all(&[byte]).await.expect("write");
        tokio::task::yield_now().await;
    }
    assert_eq!(reader.await.expect("reader"), "héllo");
}

#[tokio::test]
async fn pings_are_answered_without_the_writer() {
    let (mut socket, mut client) = pair(1 << 16, 1 << 16);
    let mut bytes = client_frame(false, 0x1, b"frag");
    bytes.extend(client_frame(true, 0x9, b"are you there"));
    client.write_all(&bytes).await.expect("write");
    let reader = tokio::spawn(async move {
        let next = socket.next().await;
        (socket, next)
    });
    assert_eq!(
        server_frame(&mut client).await,
        (0xA, b"are you there".to_vec())
    );
    client
        .write_all(&client_frame(true, 0x0, b"mented"))
        .await
        .expect("write");
    let (_socket, next) = reader.await.expect("reader");
    assert_eq!(text(next), "fragmented");
}

#[tokio::test]
async fn a_client_close_is_echoed_and_ends_the_stream() {
    let (mut socket, mut client) = pair(1 << 16, 1 << 16);
    let mut bytes = client_frame(true, 0x8, &wsframe::close_payload(1000, "bye"));
    bytes.extend(client_frame(true, 0x1, b"after the close"));
    client.write_all(&bytes).await.expect("write");
    assert!(matches!(socket.next().await, Some(Ok(Inbound::Close))));
    assert!(
        socket.next().await.is_none(),
        "nothing is read after a close"
    );
    assert_eq!(
        server_frame(&mut client).await,
        (0x8, b"\x03\xe8bye".to_vec())
    );
    // What the writer still sends is dropped: the close was the last frame.
    let frame = encode::close(Vsn::V2, None, "realtime:a");
    socket
        .send(Outgoing::Frame(ServerFrame::Text(frame)))
        .await
        .expect("dropped quietly");
    socket
        .send(Outgoing::Close(Some((1000, "late"))))
        .await
        .expect("dropped quietly");
    socket.close().await.expect("close");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.expect("read");
    assert!(rest.is_empty(), "nothing after the close reply: {rest:?}");
}

#[tokio::test]
async fn bad_frames_fail_the_connection_with_their_close_code() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (client_frame(true, 0x1, &[0; 2000]), close::TOO_BIG),
        (
            client_frame(true, 0x1, &[b'a', 0xff]),
            close::INVALID_PAYLOAD,
        ),
        (vec![0x81, 0x01, b'a'], close::PROTOCOL_ERROR),
        (client_frame(true, 0x0, b"orphan"), close::PROTOCOL_ERROR),
        (client_frame(false, 0x9, b""), close::PROTOCOL_ERROR),
    ];
    for (bytes, code) in cases {
        let (mut socket, mut client) = pair(1 << 16, 1024);
        client.write_all(&bytes).await.expect("write");
        match socket.next().await {
            Some(Err(err)) => assert_eq!(err.close().map(|(code, _)| code), Some(code), "{err}"),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(
            socket.next().await.is_none(),
            "nothing is read after an error"
        );
    }
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_its_payload_arrives() {
    let (mut socket, mut client) = pair(1 << 16, 1024);
    let frame = client_frame(true, 0x2, &vec![0; 1 << 20]);
    client.write_all(&frame[..14]).await.expect("header only");
    match socket.next().await {
        Some(Err(ReadError::Frame(wsframe::Error::TooLarge { len, max: 1024 }))) => {
            assert_eq!(len, 1 << 20);
        }
        other => panic!("expected too large, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_are_written_in_order_through_a_narrow_pipe_and_then_released() {
    // A pipe narrower than one frame: every write is partial.
    let (mut socket, mut client) = pair(7, 1 << 16);
    let shared = encode::close(Vsn::V2, Some("1"), "realtime:a");
    let long = Bytes::from(vec![42u8; 70_000]);
    let reader = tokio::spawn(async move {
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(server_frame(&mut client).await);
        }
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("read");
        (frames, rest)
    });
    for outgoing in [
        Outgoing::Frame(ServerFrame::Text(shared.clone())),
        Outgoing::Frame(ServerFrame::Binary(long.clone())),
        Outgoing::Frame(ServerFrame::Binary(Bytes::new())),
    ] {
        socket.feed(outgoing).await.expect("feed");
    }
    socket.flush().await.expect("flush");
    assert_eq!(
        socket.output.capacity(),
        0,
        "the queue is released once flushed"
    );
    socket
        .send(Outgoing::Close(Some((
            close::SLOW_CONSUMER,
            "slow consumer",
        ))))
        .await
        .expect("close frame");
    socket.close().await.expect("close");
    drop(socket);
    let (frames, rest) = reader.await.expect("reader");
    assert_eq!(frames[0], (0x1, shared.as_str().as_bytes().to_vec()));
    assert_eq!(frames[1], (0x2, long.to_vec()));
    assert_eq!(frames[2], (0x2, Vec::new()));
    assert_eq!(frames[3], (0x8, b"\x03\xf5slow consumer".to_vec()));
    assert!(rest.is_empty());
}
