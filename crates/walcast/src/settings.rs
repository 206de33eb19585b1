//! Settings: loaded once from `config/walcast.toml` (or `--config` /
//! `WALCAST_CONFIG`), overridden by environment variables, validated, and
//! handed to the rest of the program as typed values.
//!
//! A bad setting stops start-up with one line naming the file, key or
//! variable. Unknown keys are errors, so a typo never silently keeps a
//! default. Secrets (the database password) never reach logs or `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use replication::ConnectionConfig;
use serde::Deserialize;

/// The default configuration file, relative to the working directory.
pub(crate) const DEFAULT_CONFIG: &str = "config/walcast.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    replay: ReplaySection,
    #[serde(default)]
    channels: router::ChannelsConfig,
    #[serde(default)]
    routes: Vec<router::RouteConfig>,
    #[serde(default)]
    policies: Vec<router::PolicyConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaySection {
    max_age_seconds: Option<u64>,
    max_events: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    jwt_secret: Option<String>,
    jwks_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
    slot: Option<String>,
    publication: Option<String>,
    tables: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `DATABASE_URL` / `database.url`; `None` means "no database given"
    /// (only `walcast dev` accepts that: it starts its own).
    pub(crate) database: Option<ConnectionConfig>,
    /// `WALCAST_SLOT` / `database.slot`.
    pub(crate) slot: String,
    /// `WALCAST_PUBLICATION` / `database.publication`.
    pub(crate) publication: String,
    /// `database.tables`: the tables the publication must cover.
    pub(crate) tables: Vec<String>,
    /// `WALCAST_LISTEN` / `server.listen`.
    pub(crate) listen: SocketAddr,
    /// `WALCAST_JWT_SECRET` / `auth.jwt_secret`: HS256 secret. Never logged.
    pub(crate) jwt_secret: Option<Secret>,
    /// `WALCAST_JWKS_FILE` / `auth.jwks_file`: RS256/ES256 keys by `kid`.
    pub(crate) jwks_file: Option<PathBuf>,
    /// `[replay]`: how much recent history resumes can reach.
    pub(crate) replay: changes::ReplayLimits,
    /// `[channels]`, `[[routes]]`, `[[policies]]`: who may join what and
    /// see which rows (deny by default).
    pub(crate) access: router::Access,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Reads the environment through a function so tests can supply their own.
pub(crate) fn load(
    explicit: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Settings> {
    let (path, required) = match explicit
        .map(Path::to_path_buf)
        .or_else(|| env("WALCAST_CONFIG").map(PathBuf::from))
    {
        Some(path) => (path, true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let file: File = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            let hint = span_hint(&text, e.message(), e.span());
            anyhow::anyhow!("{}: {}{hint}", path.display(), e.message())
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => File::default(),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };

    let url = env("DATABASE_URL").or(file.database.url);
    let database = url
        .map(|url| ConnectionConfig::from_url(&url).context("DATABASE_URL"))
        .transpose()?;
    let slot = env("WALCAST_SLOT")
        .or(file.database.slot)
        .unwrap_or_else(|| "walcast".into());
    if slot.is_empty()
        || !slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!(
            "WALCAST_SLOT / database.slot: {slot:?} must be lower-case letters, digits and underscores"
        );
    }
    let publication = env("WALCAST_PUBLICATION")
        .or(file.database.publication)
        .unwrap_or_else(|| "walcast".into());
    let listen_text = env("WALCAST_LISTEN")
        .or(file.server.listen)
        .unwrap_or_else(|| "0.0.0.0:4000".into());
    let listen = listen_text.parse().with_context(|| {
        format!(
            "WALCAST_LISTEN / server.listen: {listen_text:?} is not an address like 0.0.0.0:4000"
        )
    })?;
    let jwt_secret = env("WALCAST_JWT_SECRET")
        .or(file.auth.jwt_secret)
        .map(Secret);
    if jwt_secret.as_ref().is_some_and(|s| s.0.is_empty()) {
        bail!("WALCAST_JWT_SECRET / auth.jwt_secret: must not be empty");
    }
    let jwks_file = env("WALCAST_JWKS_FILE")
        .map(PathBuf::from)
        .or(file.auth.jwks_file);
    let mut replay = changes::ReplayLimits::default();
    if let Some(seconds) =
        number(&env, "WALCAST_REPLAY_MAX_AGE_SECONDS")?.or(file.replay.max_age_seconds)
    {
        if seconds == 0 {
            bail!("WALCAST_REPLAY_MAX_AGE_SECONDS / replay.max_age_seconds: must be at least 1");
        }
        replay.max_age = std::time::Duration::from_secs(seconds);
    }
    if let Some(events) =
        number(&env, "WALCAST_REPLAY_MAX_EVENTS")?.or(file.replay.max_events.map(|n| n as u64))
    {
        replay.max_events = usize::try_from(events).unwrap_or(usize::MAX);
    }
    let access = router::Access::from_config(router::AccessConfig {
        channels: file.channels,
        routes: file.routes,
        policies: file.policies,
    })
    .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    Ok(Settings {
        replay,
        access,
        jwt_secret,
        jwks_file,
        database,
        slot,
        publication,
        tables: file.database.tables.unwrap_or_else(default_tables),
        listen,
    })
}

/// A whole number from the environment, or an error naming the variable.
fn number(env: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<u64>> {
    env(name)
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .with_context(|| format!("{name}: {text:?} is not a whole number"))
        })
        .transpose()
}

/// The chat schema's tables.
fn default_tables() -> Vec<String> {
    [
        "public.tenants",
        "public.conversations",
        "public.messages",
        "public.typing_indicators",
    ]
    .map(String::from)
    .to_vec()
}

/// " (line N)" for a TOML error. For an unknown key the parser's span
/// covers the whole table, so the key's own line is looked up instead.
fn span_hint(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let unknown_key = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    if let Some(key) = unknown_key {
        let line = text.lines().position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        if let Some(line) = line {
            return format!(" (line {})", line + 1);
        }
    }
    match span {
        Some(span) => format!(
            " (line {})",
            text[..span.start.min(text.len())].matches('\n').count() + 1
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write");
        file
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = write(
            "[database]\nurl = \"postgres://a@h/d\"\nslot = \"s1\"\n[server]\nlisten = \"127.0.0.1:1\"\n",
        );
        let env = |k: &str| match k {
            "WALCAST_LISTEN" => Some("127.0.0.1:2".into()),
            "DATABASE_URL" => Some("postgres://b@h/e".into()),
            _ => None,
        };
        let s = load(Some(file.path()), env).expect("valid");
        assert_eq!(s.listen.port(), 2);
        assert_eq!(s.slot, "s1");
        assert_eq!(s.database.expect("url").user, "b");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let file = write("[database]\nslott = \"x\"\n");
        let err = load(Some(file.path()), |_| None)
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("slott"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let err = load(None, |k| (k == "WALCAST_LISTEN").then(|| "nope".into())).expect_err("bad");
        assert!(err.to_string().contains("WALCAST_LISTEN"));
        let err =
            load(None, |k| (k == "DATABASE_URL").then(|| "mysql://x".into())).expect_err("bad");
        assert!(format!("{err:#}").contains("DATABASE_URL"));
        let missing = Path::new("/nonexistent/walcast.toml");
        assert!(load(Some(missing), |_| None).is_err());
    }
}
