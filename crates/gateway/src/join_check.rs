//! Join checks that need the database ("this conversation belongs to the
//! caller's tenant"): the route names the SQL, the gateway runs it once per
//! join through a [`JoinChecker`] the binary provides, with bind parameters
//! only. Keeping the runner a function keeps this crate free of Postgres:
//! the binary's runner speaks tokio-postgres; a gateway without one denies
//! every route that needs a check.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future that answers one check.
pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// Runs one parameterized query and says whether it returned a row.
/// `Err` carries why the check could not run (the database is down); the
/// join is then refused with a reason that invites a retry.
#[derive(Clone)]
pub struct JoinChecker(Arc<dyn Fn(Arc<str>, Vec<String>) -> CheckFuture + Send + Sync>);

impl JoinChecker {
    /// Wraps the runner: `run(sql, params)` resolves to `Ok(true)` when
    /// the query returned at least one row.
    pub fn new<F, Fut>(run: F) -> Self
    where
        F: Fn(Arc<str>, Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, String>> + Send + 'static,
    {
        Self(Arc::new(move |sql, params| Box::pin(run(sql, params))))
    }

    /// Runs one check.
    pub async fn check(&self, sql: Arc<str>, params: Vec<String>) -> Result<bool, String> {
        (self.0)(sql, params).await
    }
}

impl fmt::Debug for JoinChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinChecker")
    }
}
