//! The configuration walcast writes into a data directory.
//!
//! * `walcast.conf` holds our settings. `postgresql.conf` includes it once
//!   (appended after `initdb`), and it is rewritten before every start, so a
//!   reused dev data directory picks up a new port or new settings.
//!   `postgresql.auto.conf` (`ALTER SYSTEM`) still overrides it.
//! * `pg_hba.conf` gets [`DEFAULT_HBA`] after `initdb`; callers may prepend
//!   lines later. Walsender connections with `replication=database` match
//!   ordinary database lines, so no `replication` lines are needed.

use std::path::Path;

/// Our settings file, relative to the data directory.
pub(crate) const SETTINGS_FILE: &str = "walcast.conf";

/// The line appended to `postgresql.conf` to pull in [`SETTINGS_FILE`].
pub(crate) const INCLUDE_SETTINGS: &str =
    "\n# Added by walcast; settings live there.\ninclude = 'walcast.conf'\n";

/// The server certificate file, relative to the data directory.
pub(crate) const TLS_CERT_FILE: &str = "walcast-server.crt";

/// The server key file, relative to the data directory.
pub(crate) const TLS_KEY_FILE: &str = "walcast-server.key";

/// Trust local socket connections (the harness's own `psql`), require a
/// SCRAM password over TCP.
pub(crate) const DEFAULT_HBA: &str = "\
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
";

/// Everything that goes into [`SETTINGS_FILE`].
#[derive(Debug)]
pub(crate) struct ServerSettings<'a> {
    /// TCP port on 127.0.0.1.
    pub(crate) port: u16,
    /// Where the Unix socket goes; `None` disables Unix sockets.
    pub(crate) socket_dir: Option<&'a Path>,
    /// Trade crash safety for speed (throwaway clusters only).
    pub(crate) throwaway_speedups: bool,
    /// Serve TLS with [`TLS_CERT_FILE`] and [`TLS_KEY_FILE`].
    pub(crate) tls: bool,
    /// Caller settings, written last so they win.
    pub(crate) extra: &'a [(String, String)],
}

impl ServerSettings<'_> {
    /// The contents of [`SETTINGS_FILE`].
    pub(crate) fn render(&self) -> String {
        let port = self.port.to_string();
        let socket_dir = self
            .socket_dir
            .map(|dir| dir.to_string_lossy())
            .unwrap_or_default();
        let mut settings: Vec<(&str, &str)> = vec![
            ("listen_addresses", "127.0.0.1"),
            ("port", &port),
            ("unix_socket_directories", &socket_dir),
            ("wal_level", "logical"),
            ("max_wal_senders", "20"),
            ("max_replication_slots", "20"),
            ("shared_buffers", "128MB"),
            ("max_connections", "200"),
            ("log_min_messages", "warning"),
        ];
        if self.throwaway_speedups {
            settings.extend([
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
            ]);
        }
        if self.tls {
            settings.extend([
                ("ssl", "on"),
                ("ssl_cert_file", TLS_CERT_FILE),
                ("ssl_key_file", TLS_KEY_FILE),
            ]);
        }
        settings.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));

        let mut rendered =
            String::from("# Written by walcast before every start; edits are lost.\n");
        for (name, value) in settings {
            rendered.push_str(&format!("{name} = {}\n", quote(value)));
        }
        rendered
    }
}

/// Returns `hba` with `line` as its first line, so it wins over the rest.
pub(crate) fn prepend_hba_line(hba: &str, line: &str) -> String {
    format!("{}\n{hba}", line.trim_end())
}

/// A configuration-file string literal. Quoted values are accepted for
/// parameters of every type; inside quotes the server unescapes backslash
/// sequences and doubled single quotes, and a raw newline is not allowed.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_configuration_strings() {
        assert_eq!(quote("on"), "'on'");
        assert_eq!(quote(r"it's C:\x"), r"'it''s C:\\x'");
        assert_eq!(quote("a\nb"), r"'a\nb'");
    }

    #[test]
    fn caller_settings_come_last_and_speedups_only_when_asked() {
        let extra = [("fsync".to_owned(), "on".to_owned())];
        let settings = ServerSettings {
            port: 5433,
            socket_dir: None,
            throwaway_speedups: false,
            tls: true,
            extra: &extra,
        };
        let rendered = settings.render();
        assert!(rendered.contains("port = '5433'\n"));
        assert!(rendered.contains("unix_socket_directories = ''\n"));
        assert!(rendered.contains("ssl_key_file = 'walcast-server.key'\n"));
        assert!(!rendered.contains("full_page_writes"));
        assert!(rendered.ends_with("fsync = 'on'\n"));
    }

    #[test]
    fn prepended_line_comes_first() {
        let hba = prepend_hba_line(DEFAULT_HBA, "host all md5user 127.0.0.1/32 md5\n");
        assert!(hba.starts_with("host all md5user 127.0.0.1/32 md5\nlocal all all trust\n"));
    }
}
