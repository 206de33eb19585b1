//! `like` and `ilike` patterns, compiled once when the filter is parsed and
//! matched in memory the way PostgreSQL's `LIKE` / `ILIKE` match.
//!
//! `%` matches any run of characters and `_` exactly one; `\` makes the next
//! character literal. `*` also matches any run: it is the wildcard PostgREST
//! URLs use (`name=like.*smith*`), and clients copy filters from there.
//! Supabase passes the pattern to SQL unchanged, so there a `*` is literal;
//! write `\*` for a literal star here.
//!
//! Matching is linear in practice: the classic two-pointer wildcard match,
//! which backtracks only to the last `%` seen.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character.
    Literal(char),
    /// Any one character (`_`).
    One,
    /// Any run of characters, also empty (`%`, `*`).
    Any,
}

/// A compiled `like` / `ilike` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

/// The pattern ends with the escape character, which PostgreSQL rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TrailingEscape;

impl LikePattern {
    /// Compiles `pattern`; `case_insensitive` for `ilike`.
    pub(super) fn compile(pattern: &str, case_insensitive: bool) -> Result<Self, TrailingEscape> {
        let folded;
        let pattern = if case_insensitive {
            folded = pattern.to_lowercase();
            folded.as_str()
        } else {
            pattern
        };
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let token = match c {
                '%' | '*' => {
                    if tokens.last() == Some(&Token::Any) {
                        continue;
                    }
                    Token::Any
                }
                '_' => Token::One,
                '\\' => Token::Literal(chars.next().ok_or(TrailingEscape)?),
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Ok(Self {
            tokens,
            case_insensitive,
        })
    }

    /// `ilike` rather than `like`.
    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Whether `c` appears in the pattern as a literal character (access
    /// rules use this to refuse placeholders inside patterns).
    pub(crate) fn has_literal(&self, c: char) -> bool {
        self.tokens.contains(&Token::Literal(c))
    }

    /// Whether `text` matches the whole pattern.
    pub(super) fn matches(&self, text: &str) -> bool {
        if self.case_insensitive {
            let folded: Vec<char> = text.to_lowercase().chars().collect();
            self.matches_chars(&folded)
        } else {
            let chars: Vec<char> = text.chars().collect();
            self.matches_chars(&chars)
        }
    }

    fn matches_chars(&self, text: &[char]) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut p) = (0, 0);
        // After the last `%`: the token after it, and where in the text
        // that `%` stopped matching.
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
                Some(Token::Any) => {
                    p += 1;
                    resume = Some((p, t));
                }
                Some(Token::One) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Literal(c)) if text.get(t) == Some(c) => {
                    p += 1;
                    t += 1;
                }
                _ => match resume {
                    // Let the last `%` swallow one more character.
                    Some((after_any, swallowed)) => {
                        p = after_any;
                        t = swallowed + 1;
                        resume = Some((after_any, t));
                    }
                    None => return false,
                },
            }
        }
        tokens
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|token| *token == Token::Any))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(pattern: &str, text: &str) -> bool {
        LikePattern::compile(pattern, false)
            .expect("valid pattern")
            .matches(text)
    }

    fn ilike(pattern: &str, text: &str) -> bool {
        LikePattern::compile(pattern, true)
            .expect("valid pattern")
            .matches(text)
    }

    #[test]
    fn like_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "ab", false),
            ("a%", "a", true),
            ("a%", "abc", true),
            ("%c", "abc", true),
            ("%b%", "abc", true),
            ("%b%", "ac", false),
            ("a_c", "abc", true),
            ("a_c", "ac", false),
            ("a_c", "aéc", true),
            ("%", "", true),
            ("", "", true),
            ("", "a", false),
            ("_", "", false),
            ("a%b%c", "axxbyyc", true),
            ("a%b%c", "axxbyy", false),
            ("%aab", "aaab", true),
            ("%ab%ab", "abxabxab", true),
            ("a*", "abc", true),
            ("*smith*", "Mr smith jr", true),
            (r"a\%", "a%", true),
            (r"a\%", "ab", false),
            (r"a\*", "a*", true),
            (r"a\*", "ab", false),
            (r"\_", "_", true),
            (r"\_", "x", false),
            (r"a\\b", r"a\b", true),
            ("%%%", "x", true),
            ("A%", "abc", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(like(pattern, text), *expected, "{text:?} like {pattern:?}");
        }
    }

    #[test]
    fn ilike_folds_case() {
        assert!(ilike("A%", "abc"));
        assert!(ilike("%SMITH", "Mr Smith"));
        assert!(ilike("ÉCOLE", "école"));
        assert!(!ilike("a_", "A"));
    }

    #[test]
    fn trailing_escape_is_rejected() {
        assert_eq!(LikePattern::compile(r"abc\", false), Err(TrailingEscape));
        assert!(LikePattern::compile(r"abc\\", false).is_ok());
    }
}
