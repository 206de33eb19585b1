//! docker-compose.yml and the Dockerfile, checked without a Docker engine:
//! every environment variable they set is a setting in README.md's table,
//! PostgreSQL runs with `wal_level=logical`, the walcast services have
//! health checks on `/health/ready`, and the image carries the
//! configuration and the demo pages.

use std::collections::BTreeSet;

const COMPOSE: &str = include_str!("../../../docker-compose.yml");
const DOCKERFILE: &str = include_str!("../../../Dockerfile");
const README: &str = include_str!("../../../README.md");

/// The environment variables README.md's settings table names.
fn documented() -> BTreeSet<String> {
    let table = README
        .split("## Settings")
        .nth(1)
        .expect("README has a Settings section");
    let table = table.split("\n## ").next().unwrap_or(table);
    table
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(2))
        .flat_map(|cell| cell.split(['`', ',', ' ', '/']))
        .filter(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        })
        .map(str::to_owned)
        .collect()
}

/// `KEY: value` lines under each `environment:` block of a service.
fn environment(service: &str) -> Vec<(String, String)> {
    let mut lines = COMPOSE
        .split(&format!("\n  {service}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docker-compose.yml has a service {service}"))
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with("    ") || line.starts_with('#'));
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim() == "environment:" {
            for entry in lines.by_ref() {
                if !entry.starts_with("      ") {
                    break;
                }
                let (key, value) = entry.trim().split_once(':').expect("KEY: value");
                out.push((key.to_owned(), value.trim().to_owned()));
            }
        }
    }
    out
}

#[test]
fn compose_sets_only_documented_settings() {
    let documented = documented();
    for required in [
        "DATABASE_URL",
        "WALCAST_LISTEN",
        "WALCAST_JWT_SECRET",
        "WALCAST_SLOT",
    ] {
        assert!(
            documented.contains(required),
            "{required} in {documented:?}"
        );
    }
    for service in ["walcast", "demo"] {
        let environment = environment(service);
        assert!(!environment.is_empty(), "{service} has an environment");
        for (key, _) in &environment {
            assert!(
                documented.contains(key),
                "{service} sets {key}, which README.md's settings table does not list"
            );
        }
    }
    let walcast = environment("walcast");
    let url = walcast
        .iter()
        .find(|(key, _)| key == "DATABASE_URL")
        .map(|(_, value)| value.as_str())
        .expect("walcast has a DATABASE_URL");
    assert!(
        url.starts_with("postgres://walcast:walcast@postgres:5432/app"),
        "{url}"
    );
    assert!(walcast.iter().any(|(key, _)| key == "WALCAST_JWT_SECRET"));
}

#[test]
fn compose_runs_logical_replication_with_health_checks() {
    let postgres = COMPOSE
        .split("\n  postgres:\n")
        .nth(1)
        .expect("a postgres service");
    assert!(postgres.contains("\"wal_level=logical\""));
    for (service, port) in [("walcast", 4000), ("demo", 4001)] {
        let block = COMPOSE
            .split(&format!("\n  {service}:\n"))
            .nth(1)
            .expect("service")
            .split("\n\n")
            .next()
            .expect("block");
        assert!(
            block.contains("healthcheck:"),
            "{service} has a health check"
        );
        assert!(
            block.contains(&format!("/dev/tcp/127.0.0.1/{port}"))
                && block.contains("/health/ready"),
            "{service} checks readiness on its port"
        );
        assert!(block.contains("condition: service_healthy"));
        assert!(block.contains("walcast migrate && exec walcast"));
    }
}

#[test]
fn the_image_carries_the_binary_config_and_demo_pages() {
    assert!(DOCKERFILE.contains("cargo build --release --locked -p walcast"));
    assert!(DOCKERFILE.contains("COPY config /etc/walcast"));
    assert!(DOCKERFILE.contains("WALCAST_CONFIG=/etc/walcast/walcast.toml"));
    assert!(DOCKERFILE.contains("npm ci"));
    assert!(DOCKERFILE.contains("WALCAST_WEB_DIR=/usr/share/walcast/web"));
    // The settings named in the image are documented too.
    let documented = documented();
    for key in ["WALCAST_CONFIG", "WALCAST_LISTEN", "WALCAST_WEB_DIR"] {
        assert!(documented.contains(key), "{key}");
    }
}
