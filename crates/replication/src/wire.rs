//! One walsender connection: TCP or TLS, startup with `replication=database`,
//! authentication (trust, cleartext, md5, SCRAM-SHA-256), simple queries, and
//! the CopyBoth sub-protocol of `START_REPLICATION`.
//!
//! Built on postgres-protocol's encoders and `backend::Message::parse`.
//! postgres-protocol has no CopyBothResponse (`W`) tag, so [`WalConnection`]
//! peeks the tag byte and handles `W` itself before parsing.
//!
//! [`WalConnection::read_copy_data`] is cancel-safe: bytes are read into an
//! owned buffer and a message is consumed only once complete, so the stream
//! task can `select!` on it next to its timers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::{ConnectionConfig, SslMode};
use crate::error::{ReplicationError, ServerError};
use crate::tls;

/// Settings pinned on every replication session, so that the text form of
/// values (which the change decoder parses) never depends on the server's
/// or the role's defaults.
pub const SESSION_OPTIONS: &str = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres \
     -c extra_float_digits=3 -c bytea_output=hex -c client_encoding=UTF8";

const COPY_BOTH_RESPONSE_TAG: u8 = b'W';
const READ_CHUNK: usize = 64 * 1024;

/// Plain TCP, or TLS over TCP.
enum Socket {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A row of a simple query's result, text values (`None` = NULL).
pub type TextRow = Vec<Option<String>>;

/// What the server sent while in CopyBoth mode.
#[derive(Debug)]
pub enum CopyEvent {
    /// One CopyData payload (`w` XLogData or `k` keepalive).
    Data(Bytes),
    /// The server ended the copy (it is shutting down or we asked it to).
    Done,
}

/// An authenticated walsender session.
pub struct WalConnection {
    socket: Socket,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl WalConnection {
    /// Connects, negotiates TLS per `sslmode`, starts a `replication=database`
    /// session and authenticates.
    pub async fn connect(config: &ConnectionConfig) -> Result<Self, ReplicationError> {
        let socket = tokio::time::timeout(config.connect_timeout, open_socket(config))
            .await
            .map_err(|_| {
                ReplicationError::Io(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            })??;
        let mut conn = Self {
            socket,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(1024),
        };
        conn.startup(config).await?;
        Ok(conn)
    }

    async fn startup(&mut self, config: &ConnectionConfig) -> Result<(), ReplicationError> {
        let params = [
            ("user", config.user.as_str()),
            ("database", config.dbname.as_str()),
            ("replication", "database"),
            ("application_name", config.application_name.as_str()),
            ("options", SESSION_OPTIONS),
        ];
        frontend::startup_message(params, &mut self.write_buf).map_err(ReplicationError::Io)?;
        self.flush().await?;

        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.read_message().await? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    let password = password(config)?;
                    frontend::password_message(password.as_bytes(), &mut self.write_buf)
                        .map_err(ReplicationError::Io)?;
                    self.flush().await?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(
                        config.user.as_bytes(),
                        password(config)?.as_bytes(),
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.write_buf)
                        .map_err(ReplicationError::Io)?;
                    self.flush().await?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(m) = mechanisms.next().map_err(ReplicationError::Io)? {
                        offered |= m == SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(ReplicationError::Auth(
                            "server offers no SCRAM-SHA-256".into(),
                        ));
                    }
                    let state = ScramSha256::new(
                        password(config)?.as_bytes(),
                        ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(
                        SCRAM_SHA_256,
                        state.message(),
                        &mut self.write_buf,
                    )
                    .map_err(ReplicationError::Io)?;
                    self.flush().await?;
                    scram = Some(state);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let state = scram.as_mut().ok_or_else(|| {
                        ReplicationError::Protocol("SASL continue before SASL start".into())
                    })?;
                    state
                        .update(body.data())
                        .map_err(|e| ReplicationError::Auth(e.to_string()))?;
                    frontend::sasl_response(state.message(), &mut self.write_buf)
                        .map_err(ReplicationError::Io)?;
                    self.flush().await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let mut state = scram.take().ok_or_else(|| {
                        ReplicationError::Protocol("SASL final before SASL start".into())
                    })?;
                    state.finish(body.data()).map_err(|e| {
                        ReplicationError::Auth(format!("server signature rejected: {e}"))
                    })?;
                }
                Message::ErrorResponse(body) => return Err(server_error(body.fields())?.into()),
                Message::ParameterStatus(_)
                | Message::BackendKeyData(_)
                | Message::NoticeResponse(_) => {}
                Message::ReadyForQuery(_) => return Ok(()),
                _ => {
                    return Err(ReplicationError::Protocol(
                        "unexpected message during startup".into(),
                    ));
                }
            }
        }
    }

    /// Runs a simple query and returns the rows of its (last) result set.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<TextRow>, ReplicationError> {
        frontend::query(sql, &mut self.write_buf).map_err(ReplicationError::Io)?;
        self.flush().await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.read_message().await? {
                Message::RowDescription(_) => rows.clear(),
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let row = body
                        .ranges()
                        .map(|r| Ok(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned())))
                        .collect()
                        .map_err(ReplicationError::Io)?;
                    rows.push(row);
                }
                Message::ErrorResponse(body) => error = Some(server_error(body.fields())?),
                Message::ReadyForQuery(_) => {
                    return match error {
                        Some(e) => Err(e.into()),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }

    /// Sends `START_REPLICATION` and waits for the server to enter CopyBoth.
    pub async fn start_copy_both(&mut self, command: &str) -> Result<(), ReplicationError> {
        frontend::query(command, &mut self.write_buf).map_err(ReplicationError::Io)?;
        self.flush().await?;
        loop {
            if self.read_buf.len() >= 5 && self.read_buf[0] == COPY_BOTH_RESPONSE_TAG {
                let len = frame_len(&self.read_buf)?;
                if self.read_buf.len() > len {
                    self.read_buf.advance(len + 1);
                    return Ok(());
                }
            } else if let Some(message) = self.parse_one()? {
                match message {
                    Message::ErrorResponse(body) => {
                        let err = server_error(body.fields())?;
                        // Drain to ReadyForQuery so the session stays usable.
                        while !matches!(self.read_message().await?, Message::ReadyForQuery(_)) {}
                        return Err(err.into());
                    }
                    Message::NoticeResponse(_) | Message::ParameterStatus(_) => continue,
                    _ => {
                        return Err(ReplicationError::Protocol(
                            "expected CopyBothResponse".into(),
                        ));
                    }
                }
            }
            self.fill().await?;
        }
    }

    /// The next CopyData payload or the end of the copy. Cancel-safe.
    pub async fn read_copy_data(&mut self) -> Result<CopyEvent, ReplicationError> {
        loop {
            match self.read_message().await? {
                Message::CopyData(body) => return Ok(CopyEvent::Data(body.into_bytes())),
                // A walsender that shuts down (fast shutdown, `WalSndDone`)
                // ends with CommandComplete "COPY 0", without CopyDone.
                Message::CopyDone | Message::CommandComplete(_) => return Ok(CopyEvent::Done),
                Message::ErrorResponse(body) => return Err(server_error(body.fields())?.into()),
                Message::NoticeResponse(_) | Message::ParameterStatus(_) => {}
                _ => {
                    return Err(ReplicationError::Protocol(
                        "unexpected message in CopyBoth".into(),
                    ));
                }
            }
        }
    }

    /// Parses one message already buffered, without reading. Lets the stream
    /// task drain a full buffer before going back to `select!`.
    pub fn try_read_copy_data(&mut self) -> Result<Option<CopyEvent>, ReplicationError> {
        while let Some(message) = self.parse_one()? {
            match message {
                Message::CopyData(body) => return Ok(Some(CopyEvent::Data(body.into_bytes()))),
                Message::CopyDone | Message::CommandComplete(_) => {
                    return Ok(Some(CopyEvent::Done));
                }
                Message::ErrorResponse(body) => return Err(server_error(body.fields())?.into()),
                Message::NoticeResponse(_) | Message::ParameterStatus(_) => {}
                _ => {
                    return Err(ReplicationError::Protocol(
                        "unexpected message in CopyBoth".into(),
                    ));
                }
            }
        }
        Ok(None)
    }

    /// Sends one CopyData payload (a standby status update).
    pub async fn send_copy_data(&mut self, payload: &[u8]) -> Result<(), ReplicationError> {
        frontend::CopyData::new(payload)
            .map_err(ReplicationError::Io)?
            .write(&mut self.write_buf);
        self.flush().await
    }

    /// Leaves CopyBoth: CopyDone, then waits for the server's ReadyForQuery.
    /// The session stays open for simple queries.
    pub async fn end_copy(&mut self) -> Result<(), ReplicationError> {
        frontend::copy_done(&mut self.write_buf);
        self.flush().await?;
        while !matches!(self.read_message().await?, Message::ReadyForQuery(_)) {}
        Ok(())
    }

    /// Ends the session: Terminate, then closes the socket.
    pub async fn terminate(mut self) -> Result<(), ReplicationError> {
        frontend::terminate(&mut self.write_buf);
        self.flush().await?;
        let _ = self.socket.shutdown().await;
        Ok(())
    }

    async fn read_message(&mut self) -> Result<Message, ReplicationError> {
        loop {
            if let Some(message) = self.parse_one()? {
                return Ok(message);
            }
            self.fill().await?;
        }
    }

    fn parse_one(&mut self) -> Result<Option<Message>, ReplicationError> {
        if self.read_buf.first() == Some(&COPY_BOTH_RESPONSE_TAG) {
            return Err(ReplicationError::Protocol(
                "unexpected CopyBothResponse".into(),
            ));
        }
        Message::parse(&mut self.read_buf).map_err(|e| ReplicationError::Protocol(e.to_string()))
    }

    async fn fill(&mut self) -> Result<(), ReplicationError> {
        self.read_buf.reserve(READ_CHUNK);
        let n = self
            .socket
            .read_buf(&mut self.read_buf)
            .await
            .map_err(ReplicationError::Io)?;
        if n == 0 {
            return Err(ReplicationError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )));
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ReplicationError> {
        self.socket
            .write_all(&self.write_buf)
            .await
            .map_err(ReplicationError::Io)?;
        self.write_buf.clear();
        self.socket.flush().await.map_err(ReplicationError::Io)
    }
}

fn frame_len(buf: &[u8]) -> Result<usize, ReplicationError> {
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len < 4 {
        return Err(ReplicationError::Protocol("invalid message length".into()));
    }
    Ok(len)
}

fn password(config: &ConnectionConfig) -> Result<&str, ReplicationError> {
    config.password.as_deref().ok_or_else(|| {
        ReplicationError::Auth("the server asks for a password and none is configured".into())
    })
}

fn server_error(mut fields: ErrorFields<'_>) -> Result<ServerError, ReplicationError> {
    let mut error = ServerError::default();
    while let Some(field) = fields.next().map_err(ReplicationError::Io)? {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'S' => error.severity = value,
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' => error.detail = Some(value),
            b'H' => error.hint = Some(value),
            _ => {}
        }
    }
    Ok(error)
}

async fn open_socket(config: &ConnectionConfig) -> Result<Socket, ReplicationError> {
    let mut tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(ReplicationError::Io)?;
    tcp.set_nodelay(true).map_err(ReplicationError::Io)?;
    let Some(tls) = tls::client_config(config).map_err(ReplicationError::Tls)? else {
        return Ok(Socket::Plain(tcp));
    };
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    tcp.write_all(&request)
        .await
        .map_err(ReplicationError::Io)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer)
        .await
        .map_err(ReplicationError::Io)?;
    match (answer[0], config.ssl_mode) {
        (b'S', _) => {}
        (b'N', SslMode::Prefer) => return Ok(Socket::Plain(tcp)),
        (b'N', _) => return Err(ReplicationError::TlsRefused),
        _ => {
            return Err(ReplicationError::Protocol(
                "invalid answer to SSLRequest".into(),
            ));
        }
    }
    let name = ServerName::try_from(config.host.clone()).map_err(|_| {
        ReplicationError::Protocol(format!("invalid TLS server name {:?}", config.host))
    })?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(&tls))
        .connect(name, tcp)
        .await
        .map_err(ReplicationError::Io)?;
    Ok(Socket::Tls(Box::new(stream)))
}
