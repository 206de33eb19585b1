//! Where and how to connect: parsed once from a `postgres://` URL, used for
//! both the walsender connection and the ordinary SQL connection.
//!
//! Only the URL form is accepted (the key/value form is rare in
//! configuration files and environment variables). The query parameters
//! understood are `sslmode`, `sslrootcert` and `application_name`; any other
//! parameter is an error rather than silently ignored.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How much TLS to insist on, with libpq's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain otherwise (libpq's default).
    #[default]
    Prefer,
    /// TLS required; the certificate is not verified.
    Require,
    /// TLS required; the certificate chain and the host name are verified.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "disable" => Ok(Self::Disable),
            "prefer" | "allow" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(ConfigError::SslMode(other.to_owned())),
        }
    }
}

/// A bad `DATABASE_URL`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not a URL.
    #[error("not a postgres:// URL: {0}")]
    Url(#[from] url::ParseError),
    /// The URL scheme is not `postgres` or `postgresql`.
    #[error("scheme must be postgres:// or postgresql://, not {0}://")]
    Scheme(String),
    /// No host in the URL.
    #[error("the URL names no host")]
    NoHost,
    /// An `sslmode` libpq would not accept, or one walcast does not implement.
    #[error("sslmode must be disable, prefer, require or verify-full, not {0:?}")]
    SslMode(String),
    /// A query parameter walcast does not understand.
    #[error("unknown URL parameter {0:?} (known: sslmode, sslrootcert, application_name)")]
    UnknownParameter(String),
    /// A user name or password is not valid UTF-8 after percent-decoding.
    #[error("user name or password is not UTF-8")]
    NotUtf8,
}

/// Connection parameters of one PostgreSQL server.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role to log in as.
    pub user: String,
    /// Password, if any. Never printed.
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// PEM file with the CA certificates to trust for `verify-full`; the
    /// bundled Mozilla roots when absent.
    pub ssl_root_cert: Option<PathBuf>,
    /// `application_name` reported to the server.
    pub application_name: String,
    /// Give up on a TCP connect or TLS handshake after this long.
    pub connect_timeout: Duration,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("application_name", &self.application_name)
            .finish()
    }
}

impl ConnectionConfig {
    /// Parses `postgres://user:password@host:port/dbname?sslmode=...`.
    /// Defaults follow libpq: port 5432, user `postgres`, database = user.
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(text)?;
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return Err(ConfigError::Scheme(url.scheme().to_owned()));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(addr)) => addr.to_string(),
            Some(host) => host.to_string(),
            None => return Err(ConfigError::NoHost),
        };
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or(ConfigError::NotUtf8)
        };
        let user = if url.username().is_empty() {
            "postgres".to_owned()
        } else {
            decode(url.username())?
        };
        let password = url.password().map(decode).transpose()?;
        let path = url.path().trim_start_matches('/');
        let dbname = if path.is_empty() {
            user.clone()
        } else {
            decode(path)?
        };
        let mut config = Self {
            host,
            port: url.port().unwrap_or(5432),
            user,
            password,
            dbname,
            ssl_mode: SslMode::default(),
            ssl_root_cert: None,
            application_name: "walcast".to_owned(),
            connect_timeout: Duration::from_secs(10),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => config.ssl_mode = SslMode::parse(&value)?,
                "sslrootcert" => config.ssl_root_cert = Some(PathBuf::from(value.as_ref())),
                "application_name" => config.application_name = value.into_owned(),
                other => return Err(ConfigError::UnknownParameter(other.to_owned())),
            }
        }
        Ok(config)
    }

    /// The same server as a `tokio_postgres::Config` for ordinary SQL.
    pub fn to_tokio_postgres(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.ssl_mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_url() {
        let c = ConnectionConfig::from_url(
            "postgres://app%40x:p%2Fw+d@db.local:6543/chat?sslmode=verify-full&application_name=gw",
        )
        .expect("valid");
        assert_eq!(c.host, "db.local");
        assert_eq!(c.port, 6543);
        assert_eq!(c.user, "app@x");
        assert_eq!(c.password.as_deref(), Some("p/w+d"));
        assert_eq!(c.dbname, "chat");
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.application_name, "gw");
    }

    #[test]
    fn applies_libpq_defaults() {
        let c = ConnectionConfig::from_url("postgresql://localhost").expect("valid");
        assert_eq!(
            (c.port, c.user.as_str(), c.dbname.as_str()),
            (5432, "postgres", "postgres")
        );
        assert_eq!(c.ssl_mode, SslMode::Prefer);
        assert!(c.password.is_none());
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        assert!(matches!(
            ConnectionConfig::from_url("mysql://x/y"),
            Err(ConfigError::Scheme(_))
        ));
        assert!(matches!(
            ConnectionConfig::from_url("postgres://x/y?sslmode=verify-ca"),
            Err(ConfigError::SslMode(_))
        ));
        assert!(matches!(
            ConnectionConfig::from_url("postgres://x/y?target_session_attrs=any"),
            Err(ConfigError::UnknownParameter(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = ConnectionConfig::from_url("postgres://u:hunter2@h/d").expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
