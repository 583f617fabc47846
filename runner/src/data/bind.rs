//! `:param` placeholders in a SQL cell, turned into the database's positional parameters
//! (`?1` for SQLite, `$1` for PostgreSQL) so values are bound, never spliced into the text.
//! Placeholders are found with sqlparser's tokenizer, so `:x` inside a string, a quoted
//! identifier, a comment or a `::type` cast is left alone.

use serde_json::{Map, Value};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::tokenizer::{Token, Tokenizer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Sqlite,
    Postgres,
}

impl Flavor {
    fn dialect(self) -> Box<dyn Dialect> {
        match self {
            Self::Sqlite => Box::new(SQLiteDialect {}),
            Self::Postgres => Box::new(PostgreSqlDialect {}),
        }
    }
}

/// A query ready to run: positional placeholders, and the value bound to each position.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundQuery {
    pub sql: String,
    /// The parameter names in position order (`?1`/`$1` first).
    pub names: Vec<String>,
    pub values: Vec<Value>,
}

/// Rewrites `:name` placeholders to positions and looks their values up in `params`.
pub fn bind(sql: &str, flavor: Flavor, params: &Map<String, Value>) -> Result<BoundQuery, String> {
    let dialect = flavor.dialect();
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| format!("cannot read the SQL: {e}"))?;
    let offsets = LineOffsets::new(sql);
    let mut out = String::with_capacity(sql.len());
    let mut copied_to = 0;
    let mut names: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if let Token::Placeholder(text) = &token.token {
            return Err(format!("`{text}`: write parameters as :name (a notebook parameter), not positional placeholders"));
        }
        let Token::Colon = token.token else { continue };
        let Some(Token::Word(word)) = tokens.get(i + 1).map(|t| &t.token) else { continue };
        let (start, end) = (offsets.byte(&token.span.start), offsets.byte(&tokens[i + 1].span.end));
        if word.quote_style.is_some() || end.saturating_sub(start) != word.value.len() + 1 {
            continue; // `: name` with a space, or a quoted word: not a placeholder
        }
        let position = match names.iter().position(|n| *n == word.value) {
            Some(p) => p + 1,
            None => {
                names.push(word.value.clone());
                names.len()
            }
        };
        out.push_str(&sql[copied_to..start]);
        out.push_str(&match flavor {
            Flavor::Sqlite => format!("?{position}"),
            Flavor::Postgres => format!("${position}"),
        });
        copied_to = end;
    }
    out.push_str(&sql[copied_to..]);
    let values = names
        .iter()
        .map(|name| {
            params.get(name).cloned().ok_or_else(|| {
                format!("parameter `{name}` has no value: pass it with -p {name} VALUE or give it a literal default in the cell tagged `parameters`")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(BoundQuery { sql: out, names, values })
}

/// Byte offsets of sqlparser's 1-based (line, column-in-chars) locations.
struct LineOffsets<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { text, line_starts }
    }

    fn byte(&self, location: &sqlparser::tokenizer::Location) -> usize {
        let Some(&start) = self.line_starts.get((location.line as usize).saturating_sub(1)) else { return self.text.len() };
        let column = (location.column as usize).saturating_sub(1);
        self.text[start..].char_indices().nth(column).map_or(self.text.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("day".into(), "2024-01-02".into());
        params.insert("n".into(), 3.into());
        params
    }

    #[test]
    fn placeholders_become_positions() {
        let bound = bind("SELECT * FROM t WHERE day = :day AND n > :n OR day < :day", Flavor::Postgres, &params())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bound.sql, "SELECT * FROM t WHERE day = $1 AND n > $2 OR day < $1");
        assert_eq!(bound.names, ["day", "n"]);
        assert_eq!(bound.values, [Value::from("2024-01-02"), Value::from(3)]);
        let bound = bind("SELECT :n", Flavor::Sqlite, &params()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bound.sql, "SELECT ?1");
    }

    #[test]
    fn strings_comments_casts_and_quoted_names_are_left_alone() {
        let sql = "SELECT ':day', \"a:day\", x::date, 'it''s :n' -- :day\n/* :n */ FROM t WHERE é = :day";
        let bound = bind(sql, Flavor::Postgres, &params()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bound.sql, "SELECT ':day', \"a:day\", x::date, 'it''s :n' -- :day\n/* :n */ FROM t WHERE é = $1");
        let bound = bind("SELECT $$ :day $$, E'\\' :n'", Flavor::Postgres, &params()).unwrap_or_else(|e| panic!("{e}"));
        assert!(bound.names.is_empty(), "{bound:?}");
    }

    #[test]
    fn missing_and_positional_parameters_are_refused() {
        let error = bind("SELECT :nope", Flavor::Sqlite, &params()).err().unwrap_or_default();
        assert!(error.contains("parameter `nope` has no value"), "{error}");
        let error = bind("SELECT $1", Flavor::Postgres, &params()).err().unwrap_or_default();
        assert!(error.contains("`$1`"), "{error}");
        let error = bind("SELECT ?", Flavor::Sqlite, &params()).err().unwrap_or_default();
        assert!(error.contains("`?`"), "{error}");
    }
}
