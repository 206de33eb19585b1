use super::*;

#[test]
fn the_empty_config_denies_all_but_service_role() {
    let access = Access::from_config(AccessConfig::default()).expect("valid");
    assert_eq!(
        join(&access, "room:1", json!({"role": "authenticated"})).err(),
        Some(
            "Unauthorized: role authenticated may not join room:1: no route names this topic"
                .into()
        )
    );
    assert_eq!(
        join(&access, "room:1", json!({})).err(),
        Some("Unauthorized: the token has no role".into())
    );
    let grant = join(&access, "room:1", json!({"role": "service_role"})).expect("granted");
    assert!(grant.scope().is_unrestricted());
    assert!(grant.route().is_none() && grant.sql_check().is_none());
    assert!(
        access
            .authorize_join("x", &ClaimsView::new(&Map::new()))
            .is_err()
    );
    assert!(
        Access::default()
            .authorize_join("x", &ClaimsView::new(&Map::new()))
            .is_err()
    );
}

#[test]
fn validation_names_the_item_and_the_rule() {
    let route = |fields: Value| {
        let mut route = object(json!({"topic": "conversation:{id}:messages"}));
        route.extend(object(fields));
        config_error(json!({"routes": [route]}))
    };
    let item = "routes[0] (topic \"conversation:{id}:messages\")";
    let cases = [
        (
            config_error(json!({"routes": [{"topic": "a::b"}]})),
            "routes[0] (topic \"a::b\"): topic: empty segment (check for extra `:`)".to_owned(),
        ),
        (
            route(json!({"table": "a.b.c"})),
            format!("{item}: table: invalid table \"a.b.c\" (write schema.table or table)"),
        ),
        (
            route(json!({"filter": "conversation_id=eq.{id}"})),
            format!("{item}: filter: needs `table`, the table it filters"),
        ),
        (
            route(json!({"table": "messages", "filter": "conversation_id=eq.{conv}"})),
            format!("{item}: filter: unknown placeholder {{conv}}"),
        ),
        (
            route(json!({"table": "messages", "filter": "conversation_id=zz.{id}"})),
            format!("{item}: filter: [\"zz\", \"{{id}}\"]"),
        ),
        (
            route(json!({"allow": {"visitor": "{conv} == claims.x"}})),
            format!("{item}: allow.visitor: unknown placeholder {{conv}}"),
        ),
        (
            route(json!({"allow": {"agent": {"when": "claims.x = 'a'"}}})),
            format!("{item}: allow.agent: when: expected `==` or `!=`, found `=`"),
        ),
        (
            route(json!({"allow": {"agent": {"sql": "select $2", "params": ["{id}"]}}})),
            format!("{item}: allow.agent: sql: $2 has no value: params has 1"),
        ),
        (
            route(json!({"allow": {"agent": {"sql": "select $1", "params": ["{id}", "x"]}}})),
            format!("{item}: allow.agent: sql: $2 is never used (params[1])"),
        ),
        (
            route(json!({"allow": {"agent": {"sql": " "}}})),
            format!("{item}: allow.agent: sql: empty query"),
        ),
        (
            route(json!({"allow": {"agent": {"sql": "select $1", "params": ["{x}"]}}})),
            format!("{item}: allow.agent: params[0]: unknown placeholder {{x}}"),
        ),
        (
            route(json!({"allow": {"agent": {"sql": "select $1", "params": ["a{id}"]}}})),
            format!("{item}: allow.agent: params[0]: \"a{{id}}\": a placeholder must be the whole value"),
        ),
        (
            route(json!({"allow": {"agent": {"params": ["{id}"]}}})),
            format!("{item}: allow.agent: params without sql"),
        ),
        (
            route(json!({"allow": {"agent": {}}})),
            format!("{item}: allow.agent: empty rule: give when, sql or both (or write true)"),
        ),
        (
            route(json!({"allow": {"service_role": "true"}})),
            format!("{item}: allow: service_role bypasses routes and policies; leave it out"),
        ),
        (
            route(json!({"table": "messages", "allow": {"visitor": "true"}})),
            format!(
                "{item}: allow.visitor: role visitor has no policy for public.messages, so it would see no row (add a [[policies]] entry)"
            ),
        ),
        (
            config_error(json!({"routes": [
                {"topic": "conversation:{id}:messages"},
                {"topic": "conversation:{x}:typing"},
                {"topic": "conversation:abc:{kind}"},
            ]})),
            "routes[2] (topic \"conversation:abc:{kind}\"): topic: overlaps routes[0] (topic \"conversation:{id}:messages\"): both match \"conversation:abc:messages\"".to_owned(),
        ),
        (
            config_error(json!({"routes": [{"topic": "lobby"}, {"topic": "lobby"}]})),
            "routes[1] (topic \"lobby\"): topic: overlaps routes[0] (topic \"lobby\"): both match \"lobby\"".to_owned(),
        ),
        (
            config_error(json!({"channels": {"open_roles": ["anon", ""]}})),
            "channels.open_roles[1]: empty role name".to_owned(),
        ),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
}

#[test]
fn the_briefs_example_error() {
    let error = config_error(json!({"routes": [
        {"topic": "conversation:{id}:messages"},
        {"topic": "tenant:{id}"},
        {"topic": "conversation:{id}:typing", "table": "public.typing", "filter": "conversation_id=eq.{conv}"},
    ]}));
    assert_eq!(
        error,
        "routes[2] (topic \"conversation:{id}:typing\"): filter: unknown placeholder {conv}"
    );
}

#[test]
fn policy_validation() {
    let policy = |fields: Value| config_error(json!({"policies": [fields]}));
    let item = "policies[0] (table \"public.messages\", role \"visitor\")";
    assert_eq!(
        policy(
            json!({"table": "public.messages", "role": "visitor", "row": "conversation_id=eq.{claims.conversation_id"})
        ),
        format!("{item}: row: unclosed `{{`")
    );
    assert_eq!(
        policy(
            json!({"table": "public.messages", "role": "visitor", "row": "conversation_id=eq.{id}"})
        ),
        format!("{item}: row: unknown placeholder {{id}}")
    );
    assert_eq!(
        policy(json!({"table": "public.messages", "role": "visitor", "row": "a=in.(1"})),
        format!("{item}: row: `in` filter value must be wrapped by parentheses")
    );
    assert_eq!(
        policy(json!({"table": "*.messages", "role": "visitor", "row": "*"})),
        "policies[0] (table \"*.messages\", role \"visitor\"): table: invalid table \"*.messages\" (write schema.table, table, schema.* or *)"
    );
    assert_eq!(
        policy(json!({"table": "messages", "row": "*"})),
        "policies[0] (table \"messages\"): give exactly one of `role` and `roles`"
    );
    assert_eq!(
        policy(json!({"table": "messages", "role": "a", "roles": ["b"], "row": "*"})),
        "policies[0] (table \"messages\"): give exactly one of `role` and `roles`"
    );
    assert_eq!(
        policy(json!({"table": "messages", "roles": [], "row": "*"})),
        "policies[0] (table \"messages\", roles []): give exactly one of `role` and `roles`"
    );
    assert_eq!(
        policy(json!({"table": "messages", "roles": ["service_role"], "row": "*"})),
        "policies[0] (table \"messages\", roles [\"service_role\"]): role: service_role bypasses routes and policies; leave it out"
    );
    assert_eq!(
        config_error(json!({"policies": [
            {"table": "messages", "roles": ["agent", "visitor"], "row": "*"},
            {"table": "public.messages", "role": "visitor", "row": "id=eq.1"},
        ]})),
        "policies[1] (table \"public.messages\", role \"visitor\"): role visitor already has a policy for this table in policies[0] (table \"messages\", roles [\"agent\", \"visitor\"])"
    );
    // Different patterns for one table are fine: the most specific wins.
    access(json!({"policies": [
        {"table": "*", "role": "visitor", "row": "*"},
        {"table": "public.*", "role": "visitor", "row": "*"},
        {"table": "public.messages", "role": "visitor", "row": ""},
    ]}));
}
