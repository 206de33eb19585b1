//! The dev API under `/dev/api`: the demo pages' stand-in for an
//! application backend. It writes rows with SQL ([`DemoStore`]); walcast
//! then delivers the committed changes to the pages like any other write.
//!
//! ```text
//!  POST /dev/api/conversations            {visitor_name?}  → visitor token (open)
//!  POST /dev/api/agents                   {name}           → agent token (open)
//!  GET  /dev/api/conversations?tenant_id=                   agent of the tenant
//!  GET  /dev/api/conversations/:id                          its visitor, or an agent of its tenant
//!  GET  /dev/api/conversations/:id/messages                 〃
//!  POST /dev/api/conversations/:id/messages {sender_type, sender_id, body}
//!  POST /dev/api/conversations/:id/typing   {participant_id, participant_type, is_typing}
//!  POST /dev/api/conversations/:id/close
//!  POST /dev/api/conversations/:id/assign   {agent_id}      agents only (themselves)
//! ```
//!
//! Only the two sign-in calls are open; every other call needs
//! `Authorization: Bearer <token>` with a token they issued (or a
//! `service_role` token). A visitor reaches only its own conversation and
//! speaks only as itself; an agent reaches only its tenant. Errors are
//! `{"error": "…"}` with a 4xx or 5xx status.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use tracing::warn;
use warp::Reply;
use warp::http::{Method, StatusCode};

use super::Demo;
use super::store::{ConversationRef, DEMO_TENANT_ID, StoreError, is_uuid};

/// Longest message body accepted, in characters.
const MAX_BODY_CHARS: usize = 4000;
/// Longest name accepted, in characters.
const MAX_NAME_CHARS: usize = 80;
/// How long demo tokens stay valid.
const TOKEN_DAYS: u64 = 1;

/// One request, as the route hands it over.
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    /// The path below `/dev/api/`, split at `/`.
    pub(crate) segments: Vec<String>,
    pub(crate) query: HashMap<String, String>,
    pub(crate) authorization: Option<String>,
    pub(crate) body: Result<Vec<u8>, ApiError>,
}

/// An error answer: a status and a message for `{"error": …}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn into_response(self) -> warp::reply::Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        warn!(error = %err, "dev api: database call failed");
        match err {
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            ),
            StoreError::Query(_) | StoreError::Json(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the database call failed",
            ),
        }
    }
}

type ApiResult = Result<warp::reply::Response, ApiError>;

/// Who is calling, from a verified token.
#[derive(Debug)]
enum Caller {
    Visitor {
        visitor_id: String,
        tenant_id: String,
        conversation_id: String,
    },
    Agent {
        agent_id: String,
        tenant_id: String,
    },
    Service,
}

impl Caller {
    /// Whether the caller may see and act on the conversation `id`.
    fn may_open(&self, id: &str, conversation: &ConversationRef) -> bool {
        match self {
            Caller::Visitor {
                visitor_id,
                tenant_id,
                conversation_id,
            } => {
                conversation_id.eq_ignore_ascii_case(id)
                    && *tenant_id == conversation.tenant_id
                    && *visitor_id == conversation.visitor_id
            }
            Caller::Agent { tenant_id, .. } => *tenant_id == conversation.tenant_id,
            Caller::Service => true,
        }
    }

    /// The sender type and id this caller writes as, checking what it claims.
    fn speaker(
        &self,
        sender_type: Option<&str>,
        sender_id: Option<&str>,
    ) -> Result<(String, Option<String>), ApiError> {
        let (own_type, own_id) = match self {
            Caller::Visitor { visitor_id, .. } => ("visitor", visitor_id),
            Caller::Agent { agent_id, .. } => ("agent", agent_id),
            Caller::Service => {
                let kind = sender_type.unwrap_or("system");
                if !["visitor", "agent", "bot", "system"].contains(&kind) {
                    return Err(ApiError::bad_request(
                        "sender_type must be visitor, agent, bot or system",
                    ));
                }
                return Ok((kind.to_owned(), sender_id.map(str::to_owned)));
            }
        };
        if sender_type.is_some_and(|t| t != own_type) {
            return Err(ApiError::forbidden(format!(
                "a {own_type} token writes as sender_type {own_type}"
            )));
        }
        if sender_id.is_some_and(|id| id != own_id) {
            return Err(ApiError::forbidden("sender_id must be the token's sub"));
        }
        Ok((own_type.to_owned(), Some(own_id.clone())))
    }
}

/// Answers one dev API request.
pub(crate) async fn handle(demo: &Demo, request: ApiRequest) -> warp::reply::Response {
    route(demo, request)
        .await
        .unwrap_or_else(ApiError::into_response)
}

async fn route(demo: &Demo, request: ApiRequest) -> ApiResult {
    let ApiRequest {
        method,
        segments,
        query,
        authorization,
        body,
    } = request;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let post = method == Method::POST;
    let get = method == Method::GET;
    match segments.as_slice() {
        ["conversations"] if post => create_conversation(demo, &body_object(body)?).await,
        ["conversations"] if get => {
            let caller = demo_caller(demo, authorization.as_deref())?;
            list_conversations(demo, &caller, query.get("tenant_id")).await
        }
        ["agents"] if post => create_agent(demo, &body_object(body)?).await,
        ["conversations", id, rest @ ..] if rest.len() <= 1 => {
            let action = rest.first().copied();
            if !matches!(
                (action, get, post),
                (None | Some("messages"), true, _)
                    | (Some("messages" | "assign" | "typing" | "close"), _, true)
            ) {
                return Err(method_or_path_error(action));
            }
            let caller = demo_caller(demo, authorization.as_deref())?;
            let id = id.to_ascii_lowercase();
            let conversation = open_conversation(demo, &caller, &id).await?;
            match action {
                None => get_conversation(demo, &id).await,
                Some("messages") if get => Ok(json_response(
                    StatusCode::OK,
                    &demo.store.messages(&id).await?,
                )),
                Some("messages") => {
                    post_message(demo, &caller, &id, &conversation, &body_object(body)?).await
                }
                Some("assign") => assign(demo, &caller, &id, &body_object(body)?).await,
                Some("typing") => typing(demo, &caller, &id, &body_object(body)?).await,
                _ => close(demo, &id).await,
            }
        }
        ["conversations" | "agents"] => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        )),
        _ => Err(ApiError::not_found("no such dev api endpoint")),
    }
}

fn method_or_path_error(action: Option<&str>) -> ApiError {
    match action {
        None | Some("messages" | "assign" | "typing" | "close") => {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        Some(_) => ApiError::not_found("no such dev api endpoint"),
    }
}

/// The verified caller of a call that needs a token.
fn demo_caller(demo: &Demo, authorization: Option<&str>) -> Result<Caller, ApiError> {
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer <token> (from POST /dev/api/conversations or /dev/api/agents)",
            )
        })?;
    let claims = demo
        .authenticator
        .verify(token.trim(), SystemTime::now())
        .map_err(|err| ApiError::new(StatusCode::UNAUTHORIZED, err.to_string()))?;
    let claim = |name: &str| {
        claims
            .all()
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::forbidden(format!("the token has no {name} claim")))
    };
    match claims.role() {
        "visitor" => Ok(Caller::Visitor {
            visitor_id: claim("sub")?,
            tenant_id: claim("tenant_id")?,
            conversation_id: claim("conversation_id")?,
        }),
        "agent" => Ok(Caller::Agent {
            agent_id: claim("sub")?,
            tenant_id: claim("tenant_id")?,
        }),
        "service_role" => Ok(Caller::Service),
        role => Err(ApiError::forbidden(format!(
            "a {role} token cannot use the dev api; use a visitor, agent or service_role token"
        ))),
    }
}

/// Looks the conversation up and checks the caller may open it. Unknown
/// and forbidden conversations answer alike, so ids cannot be probed.
async fn open_conversation(
    demo: &Demo,
    caller: &Caller,
    id: &str,
) -> Result<ConversationRef, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::bad_request("the conversation id must be a uuid"));
    }
    match demo.store.conversation_ref(id).await? {
        Some(conversation) if caller.may_open(id, &conversation) => Ok(conversation),
        _ => Err(ApiError::not_found(
            "no such conversation for this token's tenant or visitor",
        )),
    }
}

async fn create_conversation(demo: &Demo, body: &Map<String, Value>) -> ApiResult {
    let name = optional_text(body, "visitor_name", MAX_NAME_CHARS)?.unwrap_or("Visitor");
    let created = demo.store.create_conversation(DEMO_TENANT_ID, name).await?;
    let id = created["id"].as_str().unwrap_or_default();
    let visitor_id = created["visitor_id"].as_str().unwrap_or_default();
    let token = demo.sign(
        "visitor",
        json!({"sub": visitor_id, "tenant_id": DEMO_TENANT_ID, "conversation_id": id}),
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "conversation_id": id,
            "tenant_id": DEMO_TENANT_ID,
            "visitor_id": visitor_id,
            "visitor_name": name,
            "token": token,
        }),
    ))
}

async fn create_agent(demo: &Demo, body: &Map<String, Value>) -> ApiResult {
    let name = optional_text(body, "name", MAX_NAME_CHARS)?
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let agent = demo.store.upsert_agent(DEMO_TENANT_ID, name).await?;
    let agent_id = agent["id"].as_str().unwrap_or_default();
    let name = agent["name"].as_str().unwrap_or(name);
    let token = demo.sign(
        "agent",
        json!({"sub": agent_id, "tenant_id": DEMO_TENANT_ID, "name": name}),
    )?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"agent_id": agent_id, "tenant_id": DEMO_TENANT_ID, "name": name, "token": token}),
    ))
}

async fn list_conversations(demo: &Demo, caller: &Caller, tenant: Option<&String>) -> ApiResult {
    let tenant_id = match (caller, tenant) {
        (Caller::Agent { tenant_id, .. }, None) => tenant_id.clone(),
        (Caller::Agent { tenant_id, .. }, Some(asked)) if asked.eq_ignore_ascii_case(tenant_id) => {
            tenant_id.clone()
        }
        (Caller::Service, Some(asked)) => asked.to_ascii_lowercase(),
        (Caller::Service, None) => DEMO_TENANT_ID.to_owned(),
        (Caller::Agent { .. }, Some(_)) => {
            return Err(ApiError::forbidden("an agent lists only its own tenant"));
        }
        (Caller::Visitor { .. }, _) => {
            return Err(ApiError::forbidden(
                "visitors cannot list conversations; use an agent token",
            ));
        }
    };
    if !is_uuid(&tenant_id) {
        return Err(ApiError::bad_request("tenant_id must be a uuid"));
    }
    Ok(json_response(
        StatusCode::OK,
        &demo.store.conversations(&tenant_id).await?,
    ))
}

async fn get_conversation(demo: &Demo, id: &str) -> ApiResult {
    match demo.store.conversation(id).await? {
        Some(conversation) => Ok(json_response(StatusCode::OK, &conversation)),
        None => Err(ApiError::not_found("no such conversation")),
    }
}

async fn post_message(
    demo: &Demo,
    caller: &Caller,
    id: &str,
    conversation: &ConversationRef,
    body: &Map<String, Value>,
) -> ApiResult {
    let text = optional_text(body, "body", MAX_BODY_CHARS)?
        .ok_or_else(|| ApiError::bad_request("body is required (1 to 4000 characters)"))?;
    let (sender_type, sender_id) = caller.speaker(
        optional_text(body, "sender_type", MAX_NAME_CHARS)?,
        optional_text(body, "sender_id", 200)?,
    )?;
    if conversation.status == "closed" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the conversation is closed",
        ));
    }
    let message = demo
        .store
        .insert_message(id, &sender_type, sender_id.as_deref(), text)
        .await?
        .ok_or_else(|| ApiError::not_found("no such conversation"))?;
    Ok(json_response(StatusCode::CREATED, &message))
}

async fn assign(demo: &Demo, caller: &Caller, id: &str, body: &Map<String, Value>) -> ApiResult {
    let asked = optional_text(body, "agent_id", 200)?;
    let agent_id = match caller {
        Caller::Agent { agent_id, .. } if asked.is_none_or(|a| a == agent_id) => agent_id.clone(),
        Caller::Agent { .. } => {
            return Err(ApiError::forbidden(
                "an agent assigns conversations to itself",
            ));
        }
        Caller::Service => asked
            .ok_or_else(|| ApiError::bad_request("agent_id is required"))?
            .to_owned(),
        Caller::Visitor { .. } => {
            return Err(ApiError::forbidden("only agents assign conversations"));
        }
    };
    demo.store
        .assign(id, &agent_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such conversation"))?;
    get_conversation(demo, id).await
}

async fn typing(demo: &Demo, caller: &Caller, id: &str, body: &Map<String, Value>) -> ApiResult {
    let is_typing = match body.get("is_typing") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(ApiError::bad_request("is_typing must be true or false")),
    };
    let (participant_type, participant_id) = caller.speaker(
        optional_text(body, "participant_type", MAX_NAME_CHARS)?,
        optional_text(body, "participant_id", 200)?,
    )?;
    let participant_id =
        participant_id.ok_or_else(|| ApiError::bad_request("participant_id is required"))?;
    demo.store
        .set_typing(id, &participant_id, &participant_type, is_typing)
        .await?;
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}

async fn close(demo: &Demo, id: &str) -> ApiResult {
    demo.store
        .close(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such conversation"))?;
    get_conversation(demo, id).await
}

/// The request body as a JSON object; an empty body is an empty object.
fn body_object(body: Result<Vec<u8>, ApiError>) -> Result<Map<String, Value>, ApiError> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// A trimmed, non-empty string field of at most `max` characters.
fn optional_text<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else if s.chars().count() > max {
                Err(ApiError::bad_request(format!(
                    "{field} is longer than {max} characters"
                )))
            } else {
                Ok(Some(s))
            }
        }
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

impl Demo {
    /// A demo token for `role` with `claims`, signed with the dev secret.
    fn sign(&self, role: &str, claims: Value) -> Result<String, ApiError> {
        let secret = self.secret.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the demo signs tokens with WALCAST_JWT_SECRET (HS256), and none is set",
            )
        })?;
        crate::auth::sign(secret, role, claims, TOKEN_DAYS).map_err(|err| {
            warn!(error = %err, "dev api: cannot sign a token");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot sign a token")
        })
    }
}

fn json_response(status: StatusCode, value: &Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}
