//! One role's entry in a route's `allow`: claim conditions checked in
//! memory, and optionally a SQL check the gateway runs once per join.
//!
//! The SQL text is fixed by the config; values reach it only as bind
//! parameters (`$1`, `$2`, … filled from `params`), never spliced in.
//! Validation insists that the query uses exactly `$1..$n` for its `n`
//! params, because PostgreSQL refuses a parameter it cannot type (an unused
//! one) and a `$3` without a third value would fail at every join.

use std::borrow::Cow;
use std::sync::Arc;

use super::claims::ClaimsView;
use super::condition::{Condition, ConditionError};
use super::config::AllowRule;
use super::placeholder::{PlaceholderError, SqlParam};

/// A validated `allow` entry.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) when: Condition,
    pub(crate) sql: Option<SqlTemplate>,
}

/// A SQL check with its params still to fill.
#[derive(Debug, Clone)]
pub(crate) struct SqlTemplate {
    pub(crate) sql: Arc<str>,
    params: Vec<SqlParam>,
}

/// Why an `allow` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The string form does not parse.
    #[error("{0}")]
    Condition(ConditionError),
    /// `when` does not parse.
    #[error("when: {0}")]
    When(ConditionError),
    /// `sql` is refused.
    #[error("sql: {0}")]
    Sql(SqlError),
    /// One of `params` is refused.
    #[error("params[{index}]: {error}")]
    Param {
        /// Its index.
        index: usize,
        /// Why.
        error: PlaceholderError,
    },
    /// `params` without `sql`.
    #[error("params without sql")]
    ParamsWithoutSql,
    /// `{}`.
    #[error("empty rule: give when, sql or both (or write true)")]
    Empty,
}

/// Why a rule's query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// Blank.
    #[error("empty query")]
    Empty,
    /// A `$` that does not start `$n` (dollar quoting is not supported).
    #[error("`$` must start a parameter like $1")]
    BareDollar,
    /// `$n` beyond the params given (or `$0`).
    #[error("${n} has no value: params has {count}")]
    NoValue {
        /// The parameter number.
        n: u64,
        /// How many params there are.
        count: usize,
    },
    /// A param the query never reads.
    #[error("${n} is never used (params[{index}])", index = .n - 1)]
    Unused {
        /// The parameter number.
        n: u64,
    },
}

impl Rule {
    /// Validates `rule`; `{…}` must name one of `params` or a claim.
    pub(crate) fn compile(rule: &AllowRule, params: &[Arc<str>]) -> Result<Self, RuleError> {
        let check = match rule {
            AllowRule::Condition(text) => {
                let when = Condition::parse(text, params).map_err(RuleError::Condition)?;
                return Ok(Self { when, sql: None });
            }
            AllowRule::Check(check) => check,
        };
        let when = match &check.when {
            Some(text) => Condition::parse(text, params).map_err(RuleError::When)?,
            None => Condition::default(),
        };
        let sql = match &check.sql {
            Some(sql) => {
                check_placeholders(sql, check.params.len()).map_err(RuleError::Sql)?;
                let values = check
                    .params
                    .iter()
                    .enumerate()
                    .map(|(index, text)| {
                        SqlParam::parse(text, params)
                            .map_err(|error| RuleError::Param { index, error })
                    })
                    .collect::<Result<_, _>>()?;
                Some(SqlTemplate {
                    sql: sql.trim().into(),
                    params: values,
                })
            }
            None if !check.params.is_empty() => return Err(RuleError::ParamsWithoutSql),
            None if check.when.is_none() => return Err(RuleError::Empty),
            None => None,
        };
        Ok(Self { when, sql })
    }
}

impl SqlTemplate {
    /// The params for one join; `Err` with the claim path a param needs
    /// and the token lacks.
    pub(crate) fn fill(
        &self,
        topic: &[(Arc<str>, String)],
        claims: &ClaimsView<'_>,
    ) -> Result<Vec<String>, String> {
        self.params
            .iter()
            .map(|param| match param {
                SqlParam::Literal(text) => Ok(text.clone()),
                SqlParam::Placeholder(placeholder) => placeholder
                    .resolve(topic, claims)
                    .map(Cow::into_owned)
                    .ok_or_else(|| placeholder.to_string()),
            })
            .collect()
    }
}

/// Checks that `sql` is not blank and reads exactly `$1..$count`.
fn check_placeholders(sql: &str, count: usize) -> Result<(), SqlError> {
    if sql.trim().is_empty() {
        return Err(SqlError::Empty);
    }
    let mut used = vec![false; count];
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let after = rest.get(at + 1..).unwrap_or_default();
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(SqlError::BareDollar);
        }
        let (number, tail) = after.split_at(digits);
        let n: u64 = number.parse().unwrap_or(u64::MAX);
        let slot = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|index| used.get_mut(index))
            .ok_or(SqlError::NoValue { n, count })?;
        *slot = true;
        rest = tail;
    }
    match used.iter().position(|used| !used) {
        Some(index) => Err(SqlError::Unused {
            n: index as u64 + 1,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_reads_exactly_its_params() {
        assert_eq!(check_placeholders("select 1", 0), Ok(()));
        assert_eq!(
            check_placeholders("select 1 where a = $1 and b = $2 or a = $1", 2),
            Ok(())
        );
        assert_eq!(check_placeholders("  ", 0), Err(SqlError::Empty));
        assert_eq!(
            check_placeholders("select $3", 2).map_err(|e| e.to_string()),
            Err("$3 has no value: params has 2".into())
        );
        assert_eq!(
            check_placeholders("select $0", 1),
            Err(SqlError::NoValue { n: 0, count: 1 })
        );
        assert_eq!(
            check_placeholders("select $1", 2).map_err(|e| e.to_string()),
            Err("$2 is never used (params[1])".into())
        );
        assert_eq!(
            check_placeholders("select $$x$$", 0),
            Err(SqlError::BareDollar)
        );
        assert_eq!(
            check_placeholders("select $99999999999999999999999", 1),
            Err(SqlError::NoValue {
                n: u64::MAX,
                count: 1
            })
        );
    }
}
