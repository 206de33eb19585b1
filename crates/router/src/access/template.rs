//! Topic templates of routes: `conversation:{id}:messages` names a family of
//! topics and captures the parts that vary.
//!
//! A template is `:`-separated segments; a segment is either literal text or
//! exactly one `{name}`, which matches one non-empty segment (so never a
//! `:`). Matching is segment by segment, so two templates can match the same
//! topic only if they have as many segments and no position holds two
//! different literals: that is how validation finds overlapping routes,
//! which would make a topic's access depend on the order of the config.

use std::sync::Arc;

use super::placeholder::is_identifier;

/// A parsed topic template.
#[derive(Debug, Clone)]
pub(crate) struct TopicTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Param(Arc<str>),
}

/// The params of a matched topic, in template order: `id = "abc"`.
pub(crate) type TopicParams = Vec<(Arc<str>, String)>;

/// Why a topic template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is empty.
    #[error("empty template")]
    Empty,
    /// `a::b`, or a leading or trailing `:`.
    #[error("empty segment (check for extra `:`)")]
    EmptySegment,
    /// A segment with braces that is not exactly `{name}`.
    #[error("invalid segment \"{0}\": a placeholder is a whole segment `{{name}}`")]
    InvalidSegment(String),
    /// The same `{name}` twice.
    #[error("duplicate placeholder {{{0}}}")]
    DuplicateParam(String),
    /// `{claims}`: the name reserved for token claims.
    #[error("{{claims}} is reserved for token claims")]
    ReservedName,
}

impl TopicTemplate {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut segments: Vec<Segment> = Vec::new();
        for segment in text.split(':') {
            if segment.is_empty() {
                return Err(TemplateError::EmptySegment);
            }
            let name = segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'));
            let parsed = match name {
                Some(name) if is_identifier(name) => {
                    if name == "claims" {
                        return Err(TemplateError::ReservedName);
                    }
                    if segments.contains(&Segment::Param(name.into())) {
                        return Err(TemplateError::DuplicateParam(name.to_owned()));
                    }
                    Segment::Param(name.into())
                }
                _ if segment.contains(['{', '}']) => {
                    return Err(TemplateError::InvalidSegment(segment.to_owned()));
                }
                _ => Segment::Literal(segment.into()),
            };
            segments.push(parsed);
        }
        Ok(Self { segments })
    }

    /// The names of the placeholders, in order.
    pub(crate) fn params(&self) -> Vec<Arc<str>> {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Param(name) => Some(Arc::clone(name)),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// The params of `topic` when it matches this template.
    pub(crate) fn matches(&self, topic: &str) -> Option<TopicParams> {
        let mut parts = topic.split(':');
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if **literal == *part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((Arc::clone(name), part.to_owned()));
                }
                _ => return None,
            }
        }
        parts.next().is_none().then_some(params)
    }

    /// A topic both templates match, if there is one.
    pub(crate) fn overlap(&self, other: &TopicTemplate) -> Option<String> {
        if self.segments.len() != other.segments.len() {
            return None;
        }
        let mut example = Vec::with_capacity(self.segments.len());
        for pair in self.segments.iter().zip(&other.segments) {
            let part = match pair {
                (Segment::Literal(a), Segment::Literal(b)) if a != b => return None,
                (Segment::Literal(literal), _) | (_, Segment::Literal(literal)) => &**literal,
                (Segment::Param(_), Segment::Param(_)) => "x",
            };
            example.push(part);
        }
        Some(example.join(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> TopicTemplate {
        TopicTemplate::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn matches_whole_segments() {
        let messages = template("conversation:{id}:messages");
        assert_eq!(messages.params(), [Arc::from("id")]);
        assert_eq!(
            messages.matches("conversation:abc:messages"),
            Some(vec![(Arc::from("id"), "abc".to_owned())])
        );
        for topic in [
            "conversation::messages",
            "conversation:abc:messages:extra",
            "conversation:abc",
            "conversation:a:b:messages",
            "Conversation:abc:messages",
            "",
        ] {
            assert_eq!(messages.matches(topic), None, "{topic}");
        }
        let lobby = template("lobby");
        assert_eq!(lobby.matches("lobby"), Some(vec![]));
        assert_eq!(lobby.matches("lobby:1"), None);
        let two = template("tenant:{tenant}:room:{room}");
        assert_eq!(
            two.matches("tenant:t:room:r"),
            Some(vec![
                (Arc::from("tenant"), "t".to_owned()),
                (Arc::from("room"), "r".to_owned())
            ])
        );
    }

    #[test]
    fn refuses_bad_templates() {
        let error = |text: &str| match TopicTemplate::parse(text) {
            Ok(parsed) => panic!("{text} accepted: {parsed:?}"),
            Err(err) => err.to_string(),
        };
        assert_eq!(error(""), "empty template");
        assert_eq!(error("a::b"), "empty segment (check for extra `:`)");
        assert_eq!(error("a:"), "empty segment (check for extra `:`)");
        assert_eq!(
            error("room-{id}"),
            "invalid segment \"room-{id}\": a placeholder is a whole segment `{name}`"
        );
        assert_eq!(
            error("a:{1x}"),
            "invalid segment \"{1x}\": a placeholder is a whole segment `{name}`"
        );
        assert_eq!(error("{id}:{id}"), "duplicate placeholder {id}");
        assert_eq!(error("{claims}"), "{claims} is reserved for token claims");
    }

    #[test]
    fn finds_overlaps() {
        let overlap = |a: &str, b: &str| template(a).overlap(&template(b));
        assert_eq!(
            overlap("conversation:{id}:messages", "conversation:abc:{kind}").as_deref(),
            Some("conversation:abc:messages")
        );
        assert_eq!(overlap("a:{x}", "a:{y}").as_deref(), Some("a:x"));
        assert_eq!(overlap("a:{x}", "a:{x}:b"), None);
        assert_eq!(overlap("a:{x}:messages", "a:{x}:typing"), None);
        assert_eq!(overlap("lobby", "lobby").as_deref(), Some("lobby"));
    }
}
