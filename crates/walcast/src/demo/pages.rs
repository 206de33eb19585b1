//! The demo pages under `/demo`, read from the repository's `web/`
//! directory on every request (edit, reload), and the browser build of the
//! official client from `web/node_modules` at `/demo/vendor/supabase.js`.
//!
//! ```text
//!  /  /demo  /demo/        → web/index.html
//!  /demo/widget            → web/widget.html
//!  /demo/dashboard         → web/dashboard.html
//!  /demo/<name>.<js|css|…> → web/<name>.<…>      (one segment, no dot files)
//!  /demo/vendor/supabase.js → web/node_modules/@supabase/supabase-js/dist/umd/supabase.js
//! ```
//!
//! `web/` is found through `WALCAST_WEB_DIR`, else `./web`, else beside the
//! executable's repository (`<repo>/target/<profile>/walcast`), else the
//! source tree walcast was built from. When it or its `node_modules` is
//! missing, `/demo` answers 404 with what to run.

use std::path::{Path, PathBuf};

use warp::Reply;
use warp::http::{StatusCode, header};

/// The client bundle inside `web/`.
const VENDOR_CLIENT: &str = "node_modules/@supabase/supabase-js/dist/umd/supabase.js";

/// What to run when the pages or the client bundle are missing.
const SETUP_HINT: &str = "run scripts/dev (or `npm ci` in the repository's web/ directory), \
     or point WALCAST_WEB_DIR at a web/ directory";

/// Where the demo pages are, or why they are not available.
#[derive(Debug, Clone)]
pub(crate) struct WebRoot {
    dir: Option<PathBuf>,
}

impl WebRoot {
    /// Looks for `web/` as the module docs describe.
    pub(crate) fn locate() -> Self {
        let from_env = std::env::var_os("WALCAST_WEB_DIR").map(PathBuf::from);
        if let Some(dir) = from_env {
            // An explicit setting is used even when wrong, so the 404 names it.
            return Self { dir: Some(dir) };
        }
        let mut candidates = vec![PathBuf::from("web")];
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).map(|dir| dir.join("web")));
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web"));
        let dir = candidates
            .into_iter()
            .find(|dir| dir.join("widget.html").is_file());
        Self { dir }
    }

    /// Why the pages cannot be served, if they cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        match &self.dir {
            None => Some(format!(
                "the demo pages (web/) were not found: {SETUP_HINT}"
            )),
            Some(dir) if !dir.join("widget.html").is_file() => Some(format!(
                "{} has no widget.html: {SETUP_HINT}",
                dir.display()
            )),
            Some(dir) if !dir.join(VENDOR_CLIENT).is_file() => Some(format!(
                "the browser client is not installed in {}/node_modules: {SETUP_HINT}",
                dir.display()
            )),
            Some(_) => None,
        }
    }

    /// Answers `GET /demo/<tail>`.
    pub(crate) async fn serve(&self, tail: &str) -> warp::reply::Response {
        let Some(relative) = file_for(tail) else {
            return text(StatusCode::NOT_FOUND, "no such demo page\n".to_owned());
        };
        if let Some(problem) = self.problem() {
            return text(StatusCode::NOT_FOUND, format!("walcast dev: {problem}\n"));
        }
        let Some(dir) = &self.dir else {
            return text(StatusCode::NOT_FOUND, "no web directory\n".to_owned());
        };
        let path = dir.join(&relative);
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let mut response = warp::reply::Response::new(bytes.into());
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, content_type(&relative));
                headers.insert(
                    header::CACHE_CONTROL,
                    warp::http::HeaderValue::from_static("no-cache"),
                );
                response
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                text(StatusCode::NOT_FOUND, "no such demo page\n".to_owned())
            }
            Err(err) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {err}\n", path.display()),
            ),
        }
    }
}

/// The file under `web/` for a request tail, or `None` for a path the
/// demo does not serve (anything that could leave `web/` included).
fn file_for(tail: &str) -> Option<String> {
    let tail = tail.trim_end_matches('/');
    match tail {
        "" | "index.html" => Some("index.html".into()),
        "widget" | "dashboard" => Some(format!("{tail}.html")),
        "vendor/supabase.js" => Some(VENDOR_CLIENT.into()),
        name => {
            let (stem, ext) = name.rsplit_once('.')?;
            let plain = !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            (plain && content_type_of(ext).is_some()).then(|| name.to_owned())
        }
    }
}

fn content_type_of(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

fn content_type(path: &str) -> warp::http::HeaderValue {
    let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    warp::http::HeaderValue::from_static(content_type_of(ext).unwrap_or("application/octet-stream"))
}

fn text(status: StatusCode, body: String) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::with_header(body, header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        status,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_files_inside_web_are_served() {
        assert_eq!(file_for("").as_deref(), Some("index.html"));
        assert_eq!(file_for("widget").as_deref(), Some("widget.html"));
        assert_eq!(file_for("dashboard/").as_deref(), Some("dashboard.html"));
        assert_eq!(file_for("chat.css").as_deref(), Some("chat.css"));
        assert_eq!(
            file_for("vendor/supabase.js").as_deref(),
            Some(VENDOR_CLIENT)
        );
        for bad in [
            "../Cargo.toml",
            "..%2fCargo.toml",
            ".env.js",
            "a/b.js",
            "node_modules/x.js",
            "widget.rs",
            "package.json",
            ".js",
        ] {
            assert_eq!(file_for(bad), None, "{bad}");
        }
    }
}
