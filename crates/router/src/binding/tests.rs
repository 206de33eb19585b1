use serde_json::json;

use super::*;

fn binding(params: Value) -> Binding {
    Binding::from_params(&params).unwrap_or_else(|err| panic!("{params}: {err}"))
}

fn error(params: Value) -> String {
    match Binding::from_params(&params) {
        Ok(binding) => panic!("{params} accepted: {binding:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn realtime_js_bindings() {
    let all = binding(json!({"event": "*", "schema": "public", "table": "todos"}));
    assert_eq!(all.event(), EventFilter::All);
    assert_eq!(all.schema(), &Selector::Name("public".into()));
    assert_eq!(all.table(), &Selector::Name("todos".into()));
    assert!(all.filter().is_empty());
    assert!(all.selects("public", "todos"));
    assert!(!all.selects("public", "other"));
    assert!(!all.selects("private", "todos"));

    let filtered = binding(json!({
        "event": "INSERT", "schema": "public", "table": "todos", "filter": "id=eq.1"
    }));
    assert_eq!(filtered.event(), EventFilter::Insert);
    assert_eq!(filtered.filter().terms().len(), 1);
}

#[test]
fn schema_and_table_defaults() {
    let schema_only = binding(json!({"event": "*", "schema": "public"}));
    assert_eq!(schema_only.table(), &Selector::Any);
    assert!(schema_only.selects("public", "anything"));

    let table_only = binding(json!({"table": "todos"}));
    assert_eq!(table_only.schema(), &Selector::Name("public".into()));
    assert_eq!(table_only.event(), EventFilter::All);

    let everything = binding(json!({"event": "*", "schema": "*"}));
    assert!(everything.selects("audit", "log"));

    let any_schema = binding(json!({"schema": "*", "table": "todos"}));
    assert!(any_schema.selects("tenant_1", "todos"));
    assert!(!any_schema.selects("tenant_1", "notes"));
}

#[test]
fn events_are_upper_cased_and_default_to_all() {
    let event = |value: Value| binding(json!({"schema": "public", "event": value})).event();
    assert_eq!(event(json!("insert")), EventFilter::Insert);
    assert_eq!(event(json!("Update")), EventFilter::Update);
    assert_eq!(event(json!("DELETE")), EventFilter::Delete);
    assert_eq!(event(json!("*")), EventFilter::All);
    assert_eq!(event(json!("truncate")), EventFilter::All);
    assert_eq!(event(json!(7)), EventFilter::All);

    use ChangeKind::*;
    assert!(EventFilter::All.accepts(Insert) && EventFilter::All.accepts(Delete));
    assert!(!EventFilter::All.accepts(Truncate));
    assert!(EventFilter::Update.accepts(Update) && !EventFilter::Update.accepts(Insert));
    assert!(!EventFilter::Delete.accepts(Truncate));
}

#[test]
fn the_id_is_the_client_objects_whatever_the_entry_point() {
    let params = json!({
        "event": "*", "schema": "public", "table": "todos", "filter": "id=eq.1",
        "select": ["id", "title"], "unknown_key": {"kept": true}
    });
    let Value::Object(map) = &params else {
        panic!("an object");
    };
    let binding = binding(params.clone());
    assert_eq!(binding.id(), BindingId::of(map));
    let from_object = Binding::from_object(map).expect("valid");
    assert_eq!(from_object.id(), binding.id());
    assert_eq!(
        Binding::from_object(&serde_json::Map::new()).map(|b| b.id()),
        Err(BindingError::MissingParams("%{}".into()))
    );
}

#[test]
fn ids_are_deterministic_nonzero_and_small() {
    let a = binding(json!({"event": "*", "schema": "public", "table": "todos"}));
    let b = binding(json!({"table": "todos", "schema": "public", "event": "*"}));
    assert_eq!(a.id(), b.id(), "key order does not matter");
    let c = binding(json!({"event": "INSERT", "schema": "public", "table": "todos"}));
    assert_ne!(a.id(), c.id());
    let mut seen = std::collections::HashSet::new();
    for n in 0..2000 {
        let id =
            binding(json!({"schema": "public", "table": "t", "filter": format!("id=eq.{n}")})).id();
        assert!(id.get() > 0 && id.get() < 1 << 27);
        seen.insert(id);
    }
    assert_eq!(seen.len(), 2000, "no collisions in a small sample");
}

#[test]
fn supabase_error_texts() {
    let missing = "No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: ";
    let cases: Vec<(Value, String)> = vec![
        (json!({}), format!("{missing}%{{}}")),
        (json!({"event": "*"}), format!(r#"{missing}%{{"event" => "*"}}"#)),
        (
            json!({"schema": "public", "filter": "id=eq.1"}),
            format!(r#"{missing}%{{"filter" => "id=eq.1", "schema" => "public"}}"#),
        ),
        (
            json!({"table": "todos", "filter": "id=eq.1"}),
            format!(r#"{missing}%{{"filter" => "id=eq.1", "table" => "todos"}}"#),
        ),
        (
            json!({"schema": "public", "table": "todos", "filter": null}),
            format!(r#"{missing}%{{"filter" => nil, "schema" => "public", "table" => "todos"}}"#),
        ),
        (json!({"user_token": "secret"}), format!("{missing}<redacted>")),
        (json!("todos"), format!(r#"{missing}"todos""#)),
        (
            json!({"schema": "public", "table": "messages", "filter": "subject=foo.hey"}),
            r#"Error parsing `filter` params: ["foo", "hey"]"#.into(),
        ),
        (
            json!({"schema": "public", "table": "messages", "filter": "undefined"}),
            r#"Error parsing `filter` params: ["undefined"]"#.into(),
        ),
        (
            json!({"schema": "public", "table": "messages", "filter": "id=in.1"}),
            "Error parsing `filter` params: `in` filter value must be wrapped by parentheses".into(),
        ),
        (
            json!({"schema": "public", "table": "messages", "filter": "x=is.maybe"}),
            "invalid value for is filter: must be null, true, false, or unknown".into(),
        ),
        (
            json!({"schema": "public", "table": "t", "select": "id,title"}),
            r#"Error parsing `select` params: expected a list of column name strings, e.g. select: ["col1", "col2"]"#.into(),
        ),
        (
            json!({"schema": "public", "select": ["id"]}),
            "Column selection is not supported for wildcard subscriptions. Provide an explicit schema and table name.".into(),
        ),
    ];
    for (params, text) in cases {
        assert_eq!(error(params.clone()), text, "{params}");
    }
    let err = Binding::from_params(&json!({})).expect_err("refused");
    assert!(
        err.join_reason()
            .starts_with("RealtimeDisabledForConfiguration: No subscription")
    );
}

#[test]
fn select_lists() {
    let b = binding(json!({"schema": "public", "table": "t", "select": ["id", 3, "title"]}));
    let names: Vec<&str> = b
        .selected_columns()
        .expect("selected")
        .iter()
        .map(|c| &**c)
        .collect();
    assert_eq!(names, ["id", "title"]);
    let empty = binding(json!({"schema": "public", "select": []}));
    assert!(empty.selected_columns().is_none());
}

#[test]
fn scopes_are_anded_per_table() {
    let b = binding(json!({"schema": "public", "table": "*", "filter": "room_id=eq.1"}));
    assert!(b.scope().is_unrestricted());
    let scope = Scope::for_tests(
        None,
        Some(&[
            (
                "public.messages",
                Some("tenant_id=eq.t1,deleted_at=is.null"),
            ),
            ("public.rooms", None),
        ]),
    );
    let b = b.scoped(Arc::new(scope));
    let columns = |filter: Option<Filter>| -> Vec<String> {
        filter
            .expect("allowed")
            .terms()
            .iter()
            .map(|t| t.column.to_string())
            .collect()
    };
    assert_eq!(
        columns(b.terms_for("public", "messages")),
        ["room_id", "tenant_id", "deleted_at"]
    );
    assert!(b.terms_for("public", "rooms").is_none(), "claim missing");
    assert!(b.terms_for("public", "other").is_none(), "no policy");
}

/// The id is FNV-1a of the params' canonical JSON text, reduced to the
/// range: the same ids as before it was hashed while written (ids are in
/// join replies and every event, so they must not change across versions).
#[test]
fn binding_id_is_fnv_of_the_canonical_text() {
    let params = json!({"table": "messages", "schema": "public", "event": "*",
        "filter": "conversation_id=eq.5f0c6a52-3f8e-4b59-9a57-0d2cbbd8c1aa"});
    let Value::Object(map) = &params else {
        panic!("an object");
    };
    let text = serde_json::to_vec(map).expect("serializes");
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let expected = 1 + u32::try_from(hash % u64::from((1u32 << 27) - 1)).expect("in range");
    assert_eq!(BindingId::of(map).get(), expected);
}
