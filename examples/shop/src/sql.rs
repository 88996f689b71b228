//! Statements built piece by piece (`IN` lists, optional filters, multi-row inserts) with
//! `$1, $2, ...` placeholders, which both Postgres and SQLite read. sqlx's `QueryBuilder`
//! writes `?` for its `Any` driver, which Postgres does not read.

use std::fmt::Write as _;

use specjet::sqlx::any::{AnyArguments, AnyRow};
use specjet::sqlx::{self, Any, AnyConnection, Arguments, Encode, FromRow, Type};

/// SQL text and the values of its placeholders, in order.
#[derive(Default)]
pub struct Statement {
    text: String,
    arguments: AnyArguments<'static>,
    count: usize,
    /// The first value that could not be encoded, reported when the statement runs.
    failed: Option<String>,
}

impl Statement {
    pub fn new(text: impl Into<String>) -> Statement {
        Statement {
            text: text.into(),
            ..Statement::default()
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Statement {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Statement
    where
        T: 'static + Encode<'static, Any> + Type<Any>,
    {
        self.count += 1;
        let _ = write!(self.text, "${}", self.count);
        if let Err(error) = self.arguments.add(value) {
            self.failed.get_or_insert_with(|| error.to_string());
        }
        self
    }

    /// Appends `(v1, v2, ...)`, a placeholder for each value.
    pub fn bind_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Statement
    where
        T: 'static + Encode<'static, Any> + Type<Any>,
    {
        self.push("(");
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    fn finish(self) -> Result<(String, AnyArguments<'static>), sqlx::Error> {
        match self.failed {
            Some(error) => Err(sqlx::Error::Encode(error.into())),
            None => Ok((self.text, self.arguments)),
        }
    }

    /// Every row, as `R`.
    pub async fn fetch_all<R>(self, connection: &mut AnyConnection) -> Result<Vec<R>, sqlx::Error>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let (text, arguments) = self.finish()?;
        sqlx::query_as_with(&text, arguments)
            .fetch_all(connection)
            .await
    }

    /// Runs the statement for its effect.
    pub async fn execute(self, connection: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        let (text, arguments) = self.finish()?;
        let done = sqlx::query_with(&text, arguments)
            .execute(connection)
            .await?;
        Ok(done.rows_affected())
    }
}
