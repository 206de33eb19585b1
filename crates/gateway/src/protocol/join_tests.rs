use super::*;

fn parse(payload: &str) -> Result<JoinPayload, PayloadError> {
    let frame = Bytes::from(payload.to_owned());
    let text = std::str::from_utf8(&frame).expect("test join payload is valid");
    let raw: &RawValue = serde_json::from_str(text).expect("test join payload is valid");
    JoinPayload::parse(raw, &frame)
}

/// The join realtime-js 2.109 sent in the reference's observation (§1).
const OBSERVED: &str = r#"{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u1","enabled":true},"postgres_changes":[{"event":"*","schema":"public","table":"todos"},{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}],"private":false},"access_token":"user.jwt.token"}"#;

#[test]
fn reads_the_observed_realtime_js_join() {
    let join = parse(OBSERVED).expect("test join payload is valid");
    let config = join.config.as_ref().expect("test join payload is valid");
    assert!(config.broadcast.self_broadcast);
    assert!(config.broadcast.ack);
    assert_eq!(config.broadcast.replay, None);
    assert_eq!(
        config.presence,
        PresenceConfig {
            enabled: true,
            key: Some("u1".into())
        }
    );
    assert!(!config.private);
    assert_eq!(
        join.access_token
            .as_ref()
            .expect("test join payload is valid")
            .as_str(),
        "user.jwt.token"
    );
    assert!(join.user_token.is_none());
    assert!(join.issues.is_empty());

    let [star, insert] = config.postgres_changes.as_slice() else {
        panic!("two bindings expected");
    };
    assert_eq!(
        star.raw().as_bytes(),
        br#"{"event":"*","schema":"public","table":"todos"}"#
    );
    assert_eq!(
        (star.event(), star.schema(), star.table(), star.filter()),
        (Some("*"), Some("public"), Some("todos"), None)
    );
    assert_eq!(insert.filter(), Some("id=eq.1"));
    assert_ne!(star.id(), insert.id());
}

#[test]
fn reads_the_documented_full_join() {
    let join = parse(
        r#"{"config":{"broadcast":{"ack":false,"self":false,"replay":{"since":1763407103911,"limit":10},"replication_ready":false},
            "presence":{"key":"","enabled":false},
            "postgres_changes":[{"event":"*","schema":"public","table":"todos","filter":"id=eq.1","select":["id","title"]}],
            "private":false},
            "access_token":"<jwt>","version":"realtime-js/2.109.0"}"#,
    )
    .expect("test join payload is valid");
    let config = join.config.expect("test join payload is valid");
    assert_eq!(
        config.broadcast.replay,
        Some(ReplayConfig {
            since: Some(1_763_407_103_911),
            limit: Some(10)
        })
    );
    assert_eq!(
        config.presence,
        PresenceConfig {
            enabled: false,
            key: None
        }
    );
    assert_eq!(config.postgres_changes.len(), 1);
    assert!(config.postgres_changes[0].fields().contains_key("select"));
    assert!(join.issues.is_empty());
}

#[test]
fn defaults_follow_supabase() {
    let legacy = parse("{}").expect("test join payload is valid");
    assert!(legacy.config.is_none());
    assert!(legacy.presence_enabled());

    let empty = parse(r#"{"config":{}}"#).expect("test join payload is valid");
    let config = empty.config.as_ref().expect("test join payload is valid");
    assert!(empty.presence_enabled(), "no presence object means enabled");
    assert_eq!(config.broadcast, BroadcastConfig::default());
    assert!(!config.private);
    assert!(config.postgres_changes.is_empty());

    let presence_without_enabled =
        parse(r#"{"config":{"presence":{"key":"k"}}}"#).expect("test join payload is valid");
    assert!(!presence_without_enabled.presence_enabled());

    let null_config = parse(r#"{"config":null}"#).expect("test join payload is valid");
    assert!(
        null_config.config.is_some(),
        "a null config is still the new API"
    );
}

#[test]
fn booleans_are_flexible() {
    let join = parse(
        r#"{"config":{"broadcast":{"self":"TRUE","ack":"false"},"presence":{"enabled":"True"},"private":null}}"#,
    )
    .expect("test join payload is valid");
    let config = join.config.expect("test join payload is valid");
    assert!(config.broadcast.self_broadcast);
    assert!(!config.broadcast.ack);
    assert!(config.presence.enabled);
    assert!(!config.private);
    assert!(join.issues.is_empty());

    let bad = parse(r#"{"config":{"broadcast":{"ack":1,"self":"yes"},"private":[]}}"#)
        .expect("test join payload is valid");
    let fields: Vec<_> = bad.issues.iter().map(|i| i.field).collect();
    assert_eq!(
        fields,
        [
            "config.broadcast.self",
            "config.broadcast.ack",
            "config.private"
        ]
    );
    assert_eq!(
        bad.issues[0].to_string(),
        "config.broadcast.self: unable to parse, expected boolean"
    );
    assert!(
        !bad.config
            .expect("test join payload is valid")
            .broadcast
            .ack
    );
}

#[test]
fn presence_keys_are_normalised() {
    let key = |k: &str| {
        parse(&format!(r#"{{"config":{{"presence":{{"key":{k}}}}}}}"#))
            .expect("test join payload is valid")
            .config
            .expect("test join payload is valid")
            .presence
            .key
    };
    assert_eq!(key(r#""u1""#), Some("u1".into()));
    assert_eq!(key(r#""""#), None);
    assert_eq!(key("null"), None);
    assert_eq!(key("42"), Some("42".into()));
    assert_eq!(key("true"), Some("true".into()));
    assert_eq!(key(r#"{"a":1}"#), None);
}

#[test]
fn mistyped_objects_fall_back_to_defaults() {
    let join = parse(
        r#"{"config":{"broadcast":"x","presence":[1],"postgres_changes":{"event":"*"}},"access_token":5,"user_token":null}"#,
    )
    .expect("test join payload is valid");
    let fields: Vec<_> = join.issues.iter().map(|i| i.field).collect();
    assert_eq!(
        fields,
        [
            "config.broadcast",
            "config.presence",
            "config.postgres_changes",
            "access_token"
        ]
    );
    let config = join.config.expect("test join payload is valid");
    assert!(
        config.presence.enabled,
        "an unparsable presence object is dropped"
    );
    assert!(config.postgres_changes.is_empty());
    assert!(join.access_token.is_none());
}

#[test]
fn replay_counts_as_present_even_when_null() {
    let join =
        parse(r#"{"config":{"broadcast":{"replay":null}}}"#).expect("test join payload is valid");
    assert_eq!(
        join.config
            .expect("test join payload is valid")
            .broadcast
            .replay,
        Some(ReplayConfig::default())
    );
    let bad = parse(r#"{"config":{"broadcast":{"replay":{"since":"yesterday"}}}}"#)
        .expect("test join payload is valid");
    assert_eq!(bad.issues[0].field, "config.broadcast.replay.since");
}

#[test]
fn bindings_are_verbatim_and_nulls_dropped() {
    let join = parse(
        r#"{"config":{"postgres_changes":[null, { "table" : "t",  "event":"UPDATE" } ,null]},"user_token":"u"}"#,
    )
    .expect("test join payload is valid");
    let bindings = &join
        .config
        .as_ref()
        .expect("test join payload is valid")
        .postgres_changes;
    assert_eq!(bindings.len(), 1);
    assert_eq!(
        bindings[0].raw().as_bytes(),
        br#"{ "table" : "t",  "event":"UPDATE" }"#
    );
    assert_eq!(
        join.user_token
            .expect("test join payload is valid")
            .as_str(),
        "u"
    );
}

#[test]
fn hard_failures_are_errors() {
    assert!(matches!(parse("[]"), Err(PayloadError::NotAnObject)));
    assert!(matches!(parse(r#""x""#), Err(PayloadError::NotAnObject)));
    assert!(matches!(
        parse(r#"{"config":{"postgres_changes":[{"event":"*"},"table"]}}"#),
        Err(PayloadError::BindingNotAnObject(1))
    ));
    assert!(matches!(
        parse(r#"{"config":{},"config":{}}"#),
        Err(PayloadError::Shape(_))
    ));
}

#[test]
fn binding_ids_are_stable_and_in_range() {
    let ids = |payload: &str| -> Vec<u32> {
        parse(payload)
            .expect("test join payload is valid")
            .config
            .expect("test join payload is valid")
            .postgres_changes
            .iter()
            .map(|b| b.id().get())
            .collect()
    };
    let a =
        ids(r#"{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"}]}}"#);
    let b = ids(
        r#"{"config":{"postgres_changes":[{"table":"todos", "schema":"public","event":"*"}]}}"#,
    );
    assert_eq!(a, b, "key order and whitespace do not change the id");
    let c = ids(
        r#"{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos"}]}}"#,
    );
    assert_ne!(a, c);
    for id in a.iter().chain(&c) {
        assert!(*id > 0 && *id < 1 << 31);
    }
    assert_eq!(BindingId::new(0), None);
    assert_eq!(BindingId::new(7).map(BindingId::get), Some(7));
}

#[test]
fn reads_the_resume_position() {
    let resume = |payload: &str| {
        let join = parse(payload).expect("test join payload is valid");
        (
            join.config.and_then(|config| config.resume),
            join.issues.iter().map(|i| i.field).collect::<Vec<_>>(),
        )
    };
    assert_eq!(resume(r#"{"config":{}}"#), (None, vec![]));
    assert_eq!(resume(r#"{"config":{"resume":null}}"#), (None, vec![]));
    assert_eq!(
        resume(r#"{"config":{"resume":{"position":"00ab/0000000001000000.00000002"}}}"#),
        (
            Some(ResumeRequest {
                position: "00ab/0000000001000000.00000002".into()
            }),
            vec![]
        )
    );
    // Present but unusable: kept, so the session can say it cannot resume.
    assert_eq!(
        resume(r#"{"config":{"resume":{"position":7}}}"#),
        (
            Some(ResumeRequest::default()),
            vec!["config.resume.position"]
        )
    );
    assert_eq!(
        resume(r#"{"config":{"resume":"x"}}"#),
        (Some(ResumeRequest::default()), vec!["config.resume"])
    );
}
