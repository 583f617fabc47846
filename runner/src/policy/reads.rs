//! Which tables, and which of their columns, one SQL cell reads.
//!
//! Only a single query is accepted (SELECT, WITH, VALUES, TABLE and set operations). Everything
//! the walk does not understand is refused rather than guessed at: table-valued functions, PIVOT
//! and other dialect extensions, locking clauses, `SELECT ... INTO`, data-modifying CTEs, and the
//! functions in [`super::functions`]. Tables are found in every part of the query: FROM and JOIN,
//! subqueries anywhere (FROM, WHERE, SELECT list, HAVING, ORDER BY, function arguments), both sides
//! of set operations, CTE bodies at any depth, and SQLite's `x IN table`.
//!
//! CTE names hide tables only where SQL makes them visible: a CTE's body sees the CTEs declared
//! before it (all of them under `WITH RECURSIVE`), the main query sees all, and a qualified name
//! (`public.customers`) is always a table. A name seen as a table when the database would take it
//! for a CTE only makes the result larger, which errs on the safe side.
//!
//! Columns (conservative, fail closed). Column labels must not be bypassed, so a table is read
//! whole (`Columns::All`) when a wildcard can reach it:
//! - `*` in a SELECT list reaches the tables directly in that SELECT's FROM (joins and
//!   parentheses included); columns coming out of a subquery or CTE are either named inside it or
//!   come from a wildcard inside it, which is checked there;
//! - `q.*` (in a SELECT list or as a function argument), a bare identifier `q` (PostgreSQL's whole
//!   row, as in `to_json(q)` or `q::text`) and `q.text`-style calls (PostgreSQL's attribute
//!   notation for casts and row functions) reach every table whose alias or name is `q`,
//!   anywhere in the query, since correlated subqueries see outer aliases;
//! - `NATURAL JOIN` compares every column of a SELECT's tables, and column aliases on a table
//!   (`customers AS c(a, b)`) rename columns by position: both read those tables whole;
//! - a wildcard that cannot be tied to a table (`expr.*`, `* EXCLUDE ...` in a call) reads every
//!   table whole.
//!
//! Otherwise a table's columns are every identifier appearing anywhere in the query (any part of
//! a compound identifier, lowercased): a superset of the columns it reads, since a column can only
//! be read by naming it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Cte, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, InTarget, Join, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableAlias, TableFactor,
    TableWithJoins, Visit, Visitor, With,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::PolicyError;
use super::functions;
use super::table::{Dialect, TableId, ident_part};

/// The columns of a table a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Columns {
    /// Every column (a wildcard or whole-row reference can reach the table).
    All,
    /// At most these columns (lowercase); a superset, see the module comment.
    Some(BTreeSet<String>),
}

/// One table a SQL cell reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    pub table: TableId,
    pub columns: Columns,
}

/// Every table (and the columns) a SQL cell reads, one entry per table, sorted by name.
pub fn tables_read(sql: &str, source: &str, dialect: Dialect) -> Result<Vec<TableRead>, PolicyError> {
    let statements = match dialect {
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    }
    .map_err(|e| PolicyError::Parse(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(PolicyError::StatementCount(statements.len()));
    };
    let Statement::Query(query) = statement else {
        return Err(PolicyError::NotAQuery(statement_kind(statement)));
    };
    let mut walk = Walk::new(dialect);
    walk.query(query, &Vec::new())?;
    Ok(walk.finish(source))
}

/// The statement's leading keyword, enough to say what was refused.
fn statement_kind(statement: &Statement) -> String {
    statement.to_string().split_whitespace().next().unwrap_or("an empty statement").to_uppercase()
}

/// Names (lowercase) a whole-row reference can use for a table: `to_json(c)`, `c.text`.
/// PostgreSQL reads `c.f` as `f(c)` when `c` has no column `f`; these are the built-in casts and
/// functions that turn a row into a value.
const ROW_FUNCTIONS: &[&str] =
    &["text", "varchar", "bpchar", "char", "name", "json", "jsonb", "to_json", "to_jsonb", "row_to_json", "hstore"];

/// CTE names visible at a point of the query, folded like table parts.
type Scope = Vec<String>;

/// One reference to a real table.
#[derive(Debug)]
struct Occurrence {
    parts: Vec<String>,
    /// What a qualifier or whole-row reference may call it: its alias and its last name part.
    names: Vec<String>,
    whole: bool,
}

#[derive(Debug)]
struct Walk {
    dialect: Dialect,
    occurrences: Vec<Occurrence>,
    /// Qualifiers of wildcards and bare identifiers, lowercase (see the module comment).
    row_names: BTreeSet<String>,
    identifiers: BTreeSet<String>,
    /// A wildcard reached something unknown: every table is read whole.
    everything: bool,
}

impl Walk {
    fn new(dialect: Dialect) -> Self {
        Self { dialect, occurrences: Vec::new(), row_names: BTreeSet::new(), identifiers: BTreeSet::new(), everything: false }
    }

    fn query(&mut self, query: &Query, scope: &Scope) -> Result<(), PolicyError> {
        // Destructured in full so that a field added by a new sqlparser fails to compile here
        // instead of being skipped.
        let Query { with, body, order_by, limit_clause, fetch, locks, for_clause, settings, format_clause, pipe_operators } = query;
        if !locks.is_empty() {
            return Err(PolicyError::Unsupported("FOR UPDATE/SHARE".into()));
        }
        if for_clause.is_some() || settings.is_some() || format_clause.is_some() || !pipe_operators.is_empty() {
            return Err(PolicyError::Unsupported("a dialect-specific query clause".into()));
        }
        let mut scope = scope.clone();
        if let Some(With { with_token: _, recursive, cte_tables }) = with {
            let names: Vec<String> = cte_tables.iter().map(|cte| ident_part(&cte.alias.name, self.dialect)).collect();
            for (index, cte) in cte_tables.iter().enumerate() {
                let Cte { alias: _, query, from, materialized: _, closing_paren_token: _ } = cte;
                if from.is_some() {
                    return Err(PolicyError::Unsupported("CTE ... FROM".into()));
                }
                let visible = if *recursive { &names[..] } else { &names[..index] };
                let inner: Scope = scope.iter().chain(visible).cloned().collect();
                self.query(query, &inner)?;
            }
            scope.extend(names);
        }
        self.set_expr(body, &scope)?;
        self.scan(&scope, |scan| {
            order_by.visit(scan)?;
            limit_clause.visit(scan)?;
            fetch.visit(scan)
        })
    }

    fn set_expr(&mut self, body: &SetExpr, scope: &Scope) -> Result<(), PolicyError> {
        match body {
            SetExpr::Select(select) => self.select(select, scope),
            SetExpr::Query(query) => self.query(query, scope),
            SetExpr::SetOperation { left, right, op: _, set_quantifier: _ } => {
                self.set_expr(left, scope)?;
                self.set_expr(right, scope)
            }
            SetExpr::Values(values) => self.scan(scope, |scan| values.visit(scan)),
            SetExpr::Table(table) => {
                let name = table.table_name.as_ref().ok_or_else(|| PolicyError::Unsupported("TABLE without a name".into()))?;
                let parts = table.schema_name.iter().chain([name]).map(|ident| ident_part(ident, self.dialect)).collect();
                // `TABLE t` is `SELECT * FROM t`.
                self.table(parts, None, scope, true);
                Ok(())
            }
            SetExpr::Insert(_) => Err(PolicyError::NotAQuery("INSERT".into())),
            SetExpr::Update(_) => Err(PolicyError::NotAQuery("UPDATE".into())),
            SetExpr::Delete(_) => Err(PolicyError::NotAQuery("DELETE".into())),
            SetExpr::Merge(_) => Err(PolicyError::NotAQuery("MERGE".into())),
        }
    }

    fn select(&mut self, select: &Select, scope: &Scope) -> Result<(), PolicyError> {
        let Select {
            select_token: _,
            optimizer_hints,
            distinct,
            select_modifiers,
            top,
            top_before_distinct: _,
            projection,
            exclude,
            into,
            from,
            lateral_views,
            prewhere,
            selection,
            connect_by,
            group_by,
            cluster_by,
            distribute_by,
            sort_by,
            having,
            named_window,
            qualify,
            window_before_qualify: _,
            value_table_mode,
            flavor: _,
        } = select;
        if into.is_some() {
            return Err(PolicyError::NotAQuery("SELECT ... INTO".into()));
        }
        if !lateral_views.is_empty() {
            return Err(PolicyError::Unsupported("LATERAL VIEW".into()));
        }
        let mut direct = Vec::new();
        for item in from {
            self.joined(item, scope, &mut direct)?;
        }
        for item in projection {
            match item {
                SelectItem::Wildcard(_) => self.read_whole(&direct),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => self.row_name(name),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(_), _) => self.everything = true,
                SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. } | SelectItem::ExprWithAliases { .. } => {}
            }
        }
        self.scan(scope, |scan| {
            optimizer_hints.visit(scan)?;
            distinct.visit(scan)?;
            select_modifiers.visit(scan)?;
            top.visit(scan)?;
            projection.visit(scan)?;
            exclude.visit(scan)?;
            prewhere.visit(scan)?;
            selection.visit(scan)?;
            connect_by.visit(scan)?;
            group_by.visit(scan)?;
            cluster_by.visit(scan)?;
            distribute_by.visit(scan)?;
            sort_by.visit(scan)?;
            having.visit(scan)?;
            named_window.visit(scan)?;
            qualify.visit(scan)?;
            value_table_mode.visit(scan)
        })
    }

    /// A FROM item and its joins; `direct` collects the tables a `*` of this SELECT reaches.
    fn joined(&mut self, item: &TableWithJoins, scope: &Scope, direct: &mut Vec<usize>) -> Result<(), PolicyError> {
        let first = direct.len();
        self.factor(&item.relation, scope, direct)?;
        for Join { relation, global, join_operator } in &item.joins {
            if *global {
                return Err(PolicyError::Unsupported("GLOBAL JOIN".into()));
            }
            self.factor(relation, scope, direct)?;
            let constraint = match join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => c,
                _ => return Err(PolicyError::Unsupported("this kind of join (APPLY, ASOF, ARRAY JOIN)".into())),
            };
            match constraint {
                JoinConstraint::On(expr) => self.scan(scope, |scan| expr.visit(scan))?,
                JoinConstraint::Using(columns) | JoinConstraint::UsingAlias(columns, _) => {
                    for column in columns {
                        self.scan(scope, |scan| column.visit(scan))?;
                    }
                }
                // Every column the joined tables share is compared: read them whole.
                JoinConstraint::Natural => self.read_whole(&direct[first..]),
                JoinConstraint::None => {}
            }
        }
        Ok(())
    }

    fn factor(&mut self, factor: &TableFactor, scope: &Scope, direct: &mut Vec<usize>) -> Result<(), PolicyError> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives,
                inheritance: _,
            } => {
                if let Some(args) = args {
                    // A generator reads no table; any subquery in its arguments is read as usual.
                    if is_generator(name) {
                        return self.scan(scope, |scan| args.visit(scan));
                    }
                    return Err(PolicyError::TableFunction(name.to_string()));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || !index_directives.is_empty()
                {
                    return Err(PolicyError::Unsupported(format!("this form of table reference (`{factor}`)")));
                }
                let parts = self.name_parts(name)?;
                let whole = alias.as_ref().is_some_and(|alias| !alias.columns.is_empty());
                direct.extend(self.table(parts, alias.as_ref(), scope, whole));
                self.scan(scope, |scan| sample.visit(scan))
            }
            TableFactor::Derived { lateral: _, subquery, alias: _, sample } => {
                if sample.is_some() {
                    return Err(PolicyError::Unsupported("TABLESAMPLE on a subquery".into()));
                }
                self.query(subquery, scope)
            }
            TableFactor::NestedJoin { table_with_joins, alias } => {
                let first = direct.len();
                self.joined(table_with_joins, scope, direct)?;
                // `(a JOIN b) AS x`: `x.*` reaches both, and column aliases rename theirs.
                if let Some(alias) = alias {
                    let name = alias.name.value.to_lowercase();
                    for &index in &direct[first..] {
                        self.occurrences[index].names.push(name.clone());
                        self.occurrences[index].whole |= !alias.columns.is_empty();
                    }
                }
                Ok(())
            }
            TableFactor::TableFunction { expr, .. } => Err(PolicyError::TableFunction(expr.to_string())),
            TableFactor::Function { name, .. } => Err(PolicyError::TableFunction(name.to_string())),
            TableFactor::UNNEST { .. } => Err(PolicyError::TableFunction("unnest".into())),
            TableFactor::JsonTable { .. } => Err(PolicyError::TableFunction("json_table".into())),
            TableFactor::OpenJsonTable { .. } => Err(PolicyError::TableFunction("openjson".into())),
            TableFactor::XmlTable { .. } => Err(PolicyError::TableFunction("xmltable".into())),
            _ => Err(PolicyError::Unsupported(format!("this table expression (`{factor}`)"))),
        }
    }

    /// Records a reference to `parts` unless it names a visible CTE; returns the occurrence.
    fn table(&mut self, parts: Vec<String>, alias: Option<&TableAlias>, scope: &Scope, whole: bool) -> Option<usize> {
        if let [only] = parts.as_slice()
            && scope.contains(only)
        {
            return None;
        }
        let mut names: Vec<String> = parts.last().map(|last| last.to_lowercase()).into_iter().collect();
        names.extend(alias.map(|alias| alias.name.value.to_lowercase()));
        self.occurrences.push(Occurrence { parts, names, whole });
        Some(self.occurrences.len() - 1)
    }

    fn name_parts(&self, name: &ObjectName) -> Result<Vec<String>, PolicyError> {
        name.0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => Ok(ident_part(ident, self.dialect)),
                ObjectNamePart::Function(_) => Err(PolicyError::Unsupported(format!("the computed table name `{name}`"))),
            })
            .collect()
    }

    fn read_whole(&mut self, occurrences: &[usize]) {
        for &index in occurrences {
            self.occurrences[index].whole = true;
        }
    }

    fn row_name(&mut self, qualifier: &ObjectName) {
        if let Some(ObjectNamePart::Identifier(last)) = qualifier.0.last() {
            self.row_names.insert(last.value.to_lowercase());
        } else {
            self.everything = true;
        }
    }

    /// Checks one expression met by the generic scan (subqueries inside it are walked separately).
    fn expr(&mut self, expr: &Expr) -> Result<(), PolicyError> {
        match expr {
            Expr::Function(function) => {
                if let Some(ObjectNamePart::Identifier(last)) = function.name.0.last()
                    && functions::is_forbidden(&last.value)
                {
                    return Err(PolicyError::ForbiddenFunction(function.name.to_string()));
                }
                if let FunctionArguments::List(list) = &function.args {
                    for arg in &list.args {
                        let (FunctionArg::Unnamed(arg) | FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. }) = arg;
                        match arg {
                            FunctionArgExpr::QualifiedWildcard(name) => self.row_name(name),
                            FunctionArgExpr::WildcardWithOptions(_) => self.everything = true,
                            // `count(*)` reads no column.
                            FunctionArgExpr::Wildcard | FunctionArgExpr::Expr(_) => {}
                        }
                    }
                }
            }
            Expr::Identifier(ident) => {
                self.row_names.insert(ident.value.to_lowercase());
            }
            Expr::CompoundIdentifier(parts) => {
                if let [.., qualifier, last] = parts.as_slice()
                    && ROW_FUNCTIONS.contains(&last.value.to_lowercase().as_str())
                {
                    self.row_names.insert(qualifier.value.to_lowercase());
                }
            }
            Expr::QualifiedWildcard(name, _) => self.row_name(name),
            Expr::Wildcard(_) => self.everything = true,
            Expr::In { target: InTarget::Table { name, args: Some(_) }, .. } => return Err(PolicyError::TableFunction(name.to_string())),
            _ => {}
        }
        Ok(())
    }

    /// Visits parts of the query this walk does not take apart itself: their identifiers, function
    /// calls and tables are recorded, and every subquery in them is walked with `scope`.
    fn scan(&mut self, scope: &Scope, visit: impl FnOnce(&mut Scan<'_>) -> ControlFlow<PolicyError>) -> Result<(), PolicyError> {
        let mut scan = Scan { walk: self, scope, depth: 0 };
        match visit(&mut scan) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(error) => Err(error),
        }
    }

    fn finish(self, source: &str) -> Vec<TableRead> {
        let mut reads: Vec<TableRead> = Vec::new();
        for occurrence in &self.occurrences {
            let table = TableId::from_parts(source, &occurrence.parts);
            let whole = occurrence.whole || self.everything || occurrence.names.iter().any(|name| self.row_names.contains(name));
            let columns = if whole { Columns::All } else { Columns::Some(self.identifiers.clone()) };
            match reads.iter_mut().find(|read| read.table == table) {
                Some(read) if whole => read.columns = Columns::All,
                Some(_) => {}
                None => reads.push(TableRead { table, columns }),
            }
        }
        reads.sort_by(|a, b| a.table.cmp(&b.table));
        reads
    }
}

/// The generic part of the walk. `depth` counts the queries entered below the scanned node: the
/// outermost of them is handed to [`Walk::query`], which takes care of everything inside it.
struct Scan<'w> {
    walk: &'w mut Walk,
    scope: &'w Scope,
    depth: usize,
}

impl Visitor for Scan<'_> {
    type Break = PolicyError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<PolicyError> {
        if self.depth == 0
            && let Err(error) = self.walk.query(query, self.scope)
        {
            return ControlFlow::Break(error);
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<PolicyError> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<PolicyError> {
        if self.depth == 0 {
            return ControlFlow::Break(PolicyError::Unsupported(format!("a table reference here (`{factor}`)")));
        }
        ControlFlow::Continue(())
    }

    /// Outside FROM, a table appears only as SQLite's `x IN table`, which reads it whole.
    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<PolicyError> {
        if self.depth == 0 {
            match self.walk.name_parts(name) {
                Ok(parts) => {
                    self.walk.table(parts, None, self.scope, true);
                }
                Err(error) => return ControlFlow::Break(error),
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<PolicyError> {
        if self.depth == 0
            && let Err(error) = self.walk.expr(expr)
        {
            return ControlFlow::Break(error);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_ident(&mut self, ident: &Ident) -> ControlFlow<PolicyError> {
        if self.depth == 0 {
            self.walk.identifiers.insert(ident.value.to_lowercase());
        }
        ControlFlow::Continue(())
    }
}

/// `generate_series` (PostgreSQL's, `pg_catalog.` or not, and SQLite's extension): rows made
/// from its arguments alone, the calendar spine of many reports.
fn is_generator(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().map(|part| part.to_string().to_lowercase()).collect();
    matches!(parts.iter().map(String::as_str).collect::<Vec<_>>()[..], ["generate_series"] | ["pg_catalog", "generate_series"])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(table, Some(columns) | None for All)` per read, for compact assertions.
    fn reads(sql: &str, dialect: Dialect) -> Vec<(String, Option<Vec<String>>)> {
        tables_read(sql, "w", dialect)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|read| {
                let columns = match read.columns {
                    Columns::All => None,
                    Columns::Some(names) => Some(names.into_iter().collect()),
                };
                (read.table.to_string(), columns)
            })
            .collect()
    }

    fn tables(sql: &str) -> Vec<String> {
        reads(sql, Dialect::Postgres).into_iter().map(|(table, _)| table).collect()
    }

    fn sqlite_tables(sql: &str) -> Vec<String> {
        reads(sql, Dialect::Sqlite).into_iter().map(|(table, _)| table).collect()
    }

    /// Whether `table` is read whole.
    fn whole(sql: &str, table: &str) -> bool {
        let found = reads(sql, Dialect::Postgres).into_iter().find(|(name, _)| name == table);
        found.unwrap_or_else(|| panic!("{sql}: {table} not read")).1.is_none()
    }

    fn refused(sql: &str, dialect: Dialect) -> PolicyError {
        match tables_read(sql, "w", dialect) {
            Ok(found) => panic!("{sql}: accepted, reading {found:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn joins_and_subqueries_everywhere_are_found() {
        assert_eq!(tables("SELECT a.x FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id), d"), ["w.a", "w.b", "w.c", "w.d"]);
        assert_eq!(
            tables("SELECT x FROM a WHERE id IN (SELECT id FROM b) AND EXISTS (SELECT 1 FROM c WHERE c.y = a.y)"),
            ["w.a", "w.b", "w.c"]
        );
        assert_eq!(tables("SELECT (SELECT max(y) FROM b), coalesce((SELECT 1 FROM c LIMIT 1), 0) FROM a"), ["w.a", "w.b", "w.c"]);
        assert_eq!(tables("SELECT * FROM (SELECT * FROM (SELECT x FROM a) s1 JOIN b ON true) s2"), ["w.a", "w.b"]);
        assert_eq!(
            tables("SELECT x FROM a GROUP BY x HAVING count(*) > (SELECT count(*) FROM b) ORDER BY (SELECT 1 FROM c)"),
            ["w.a", "w.b", "w.c"]
        );
        assert_eq!(tables("SELECT x FROM a, LATERAL (SELECT y FROM b WHERE b.x = a.x) l"), ["w.a", "w.b"]);
        assert_eq!(tables("SELECT x FROM (a JOIN b ON a.i = b.i) JOIN c ON true"), ["w.a", "w.b", "w.c"]);
        assert_eq!(tables("SELECT sum(x) FILTER (WHERE x > (SELECT 0 FROM b)) FROM a"), ["w.a", "w.b"]);
        assert_eq!(tables("SELECT 1"), Vec::<String>::new());
        assert_eq!(tables("VALUES (1, 'a'), ((SELECT 2 FROM a))"), ["w.a"]);
        assert_eq!(tables("SELECT 1 UNION TABLE sales.orders"), ["w.sales.orders"]);
        assert_eq!(sqlite_tables("SELECT x FROM a WHERE x IN b"), ["w.a", "w.b"]);
        assert_eq!(
            tables(
                "SELECT CASE WHEN x > ANY (SELECT y FROM b) THEN ARRAY(SELECT z FROM c) END FROM ONLY a WHERE (x, y) IN (SELECT 1, 2 FROM d)"
            ),
            ["w.a", "w.b", "w.c", "w.d"]
        );
        assert_eq!(
            tables("SELECT rank() OVER (ORDER BY (SELECT 1 FROM b)) FROM a TABLESAMPLE SYSTEM ((SELECT 10 FROM c))"),
            ["w.a", "w.b", "w.c"]
        );
    }

    #[test]
    fn set_operations_read_both_sides() {
        assert_eq!(
            tables("SELECT x FROM a UNION SELECT x FROM b EXCEPT (SELECT x FROM c INTERSECT SELECT x FROM d)"),
            ["w.a", "w.b", "w.c", "w.d"]
        );
        assert_eq!(tables("SELECT x FROM a UNION ALL SELECT x FROM a ORDER BY 1"), ["w.a"]);
    }

    #[test]
    fn cte_names_are_not_tables_but_their_bodies_are_read() {
        assert_eq!(tables("WITH t AS (SELECT x FROM a), u AS (SELECT x FROM t JOIN b ON true) SELECT * FROM u, t"), ["w.a", "w.b"]);
        // Nested WITH, in a subquery: its names are visible only inside it.
        assert_eq!(tables("SELECT * FROM (WITH t AS (SELECT 1 AS x) SELECT * FROM t) s, t"), ["w.t"]);
        assert_eq!(tables("WITH t AS (SELECT x FROM a) SELECT (WITH u AS (SELECT x FROM t) SELECT max(x) FROM u)"), ["w.a"]);
    }

    #[test]
    fn a_cte_shadows_a_real_table_only_where_visible() {
        assert_eq!(tables("WITH customers AS (SELECT 1 AS id) SELECT * FROM customers"), Vec::<String>::new());
        // A qualified name is always the table; a non-recursive CTE does not see itself.
        assert_eq!(tables("WITH customers AS (SELECT 1 AS id) SELECT * FROM public.customers"), ["w.public.customers"]);
        assert_eq!(tables("WITH customers AS (SELECT id FROM customers) SELECT * FROM customers"), ["w.customers"]);
        // An earlier CTE does not see a later one.
        assert_eq!(tables("WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a"), ["w.b"]);
    }

    #[test]
    fn recursive_ctes_refer_to_themselves() {
        let sql = "WITH RECURSIVE tree(id, parent) AS (SELECT id, parent FROM nodes WHERE parent IS NULL \
                   UNION ALL SELECT n.id, n.parent FROM nodes n JOIN tree ON n.parent = tree.id) SELECT * FROM tree";
        assert_eq!(tables(sql), ["w.nodes"]);
        assert_eq!(sqlite_tables(sql), ["w.nodes"]);
    }

    #[test]
    fn names_fold_unless_quoted_in_postgres() {
        assert_eq!(
            tables(r#"SELECT * FROM Sales.ORDERS JOIN "Sales"."Orders" ON true JOIN "sales".orders ON true"#),
            [r#"w."Sales"."Orders""#, "w.sales.orders"]
        );
        assert_eq!(sqlite_tables(r#"SELECT * FROM "Customers" JOIN main.[Orders] ON true"#), ["w.customers", "w.main.orders"]);
        assert_eq!(tables(r#"SELECT * FROM "we.ird""#), [r#"w."we.ird""#]);
    }

    #[test]
    fn wildcards_read_whole_tables_they_reach() {
        assert!(whole("SELECT * FROM customers", "w.customers"));
        assert!(whole("SELECT c.* FROM customers c JOIN orders o ON c.id = o.cid", "w.customers"));
        assert!(!whole("SELECT c.* FROM customers c JOIN orders o ON c.id = o.cid", "w.orders"));
        assert!(whole("SELECT customers.* FROM customers", "w.customers"));
        assert!(whole("SELECT s.orders.* FROM s.orders", "w.s.orders"));
        // `*` of a SELECT reaches its own FROM, not tables in its WHERE.
        assert!(!whole("SELECT * FROM orders WHERE cid IN (SELECT id FROM customers)", "w.customers"));
        assert!(whole("SELECT * FROM (SELECT * FROM customers) s", "w.customers"));
        assert!(whole("SELECT x.* FROM (customers JOIN orders USING (id)) AS x", "w.customers"));
        // Correlated: the qualifier names the outer table.
        assert!(whole("SELECT (SELECT row_to_json(c.*) FROM orders o WHERE o.cid = c.id) FROM customers c", "w.customers"));
    }

    #[test]
    fn whole_row_references_read_whole_tables() {
        assert!(whole("SELECT to_json(c) FROM customers c", "w.customers"));
        assert!(whole("SELECT c::text FROM customers c", "w.customers"));
        assert!(whole("SELECT c.text FROM customers c", "w.customers"), "attribute notation: text(c)");
        assert!(whole("SELECT count(*) FROM customers NATURAL JOIN blocklist", "w.customers"));
        assert!(whole("SELECT a FROM customers AS c(a, b)", "w.customers"), "columns renamed by position");
        assert!(!whole("SELECT count(*) FROM customers", "w.customers"), "count(*) reads no column");
    }

    #[test]
    fn column_lists_are_every_identifier() {
        let found =
            reads("SELECT c.id, upper(Name) AS n FROM customers c JOIN o USING (cid) WHERE \"Region\" = :region", Dialect::Postgres);
        let columns = found[0].1.clone().unwrap();
        for column in ["id", "name", "n", "cid", "region"] {
            assert!(columns.contains(&column.to_owned()), "{column} missing from {columns:?}");
        }
        assert!(!columns.contains(&":region".to_owned()), "parameters are not columns");
        let sqlite = reads("SELECT email FROM customers WHERE id = :id", Dialect::Sqlite);
        assert_eq!(sqlite[0].1.as_ref().map(|c| c.contains(&"email".to_owned())), Some(true));
    }

    #[test]
    fn only_one_query_is_accepted() {
        assert_eq!(refused("SELECT 1; SELECT 2", Dialect::Sqlite), PolicyError::StatementCount(2));
        assert_eq!(refused("", Dialect::Sqlite), PolicyError::StatementCount(0));
        assert!(matches!(refused("SELEC x FROM t", Dialect::Postgres), PolicyError::Parse(_)));
        for (sql, kind) in [
            ("INSERT INTO t VALUES (1)", "INSERT"),
            ("UPDATE t SET x = 1", "UPDATE"),
            ("DELETE FROM t", "DELETE"),
            ("CREATE TABLE t (x int)", "CREATE"),
            ("DROP TABLE t", "DROP"),
            ("ATTACH DATABASE 'x.db' AS x", "ATTACH"),
        ] {
            assert_eq!(refused(sql, Dialect::Sqlite), PolicyError::NotAQuery(kind.into()), "{sql}");
        }
        assert!(matches!(refused("SELECT * INTO copy FROM t", Dialect::Postgres), PolicyError::NotAQuery(_)));
        assert!(matches!(refused("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", Dialect::Postgres), PolicyError::NotAQuery(_)));
        assert!(matches!(refused("SELECT * FROM t FOR UPDATE", Dialect::Postgres), PolicyError::Unsupported(_)));
    }

    #[test]
    fn file_and_network_functions_are_refused() {
        for sql in [
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT x FROM t WHERE y = pg_catalog.pg_read_binary_file('/x')::text",
            "SELECT * FROM t WHERE id IN (SELECT length(pg_ls_dir('.')))",
            "SELECT lo_import('/etc/passwd')",
            "SELECT query_to_xml('select * from customers', true, true, '')",
            "SELECT dblink_connect('host=evil')",
        ] {
            assert!(matches!(refused(sql, Dialect::Postgres), PolicyError::ForbiddenFunction(_)), "{sql}");
        }
        for sql in ["SELECT readfile('/etc/passwd')", "SELECT load_extension('x')", "SELECT fts3_tokenizer('x')"] {
            assert!(matches!(refused(sql, Dialect::Sqlite), PolicyError::ForbiddenFunction(_)), "{sql}");
        }
    }

    #[test]
    fn generate_series_reads_only_what_its_arguments_read() {
        let reads = |sql| tables_read(sql, "pg", Dialect::Postgres).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(reads("SELECT d::date FROM generate_series($1::date, $2::date, interval '1 day') AS d").is_empty());
        assert!(reads("SELECT * FROM pg_catalog.generate_series(1, 3)").is_empty());
        let read = reads("SELECT g FROM generate_series(1, (SELECT max(n) FROM secret.counts)) g");
        assert_eq!(read.iter().map(|r| r.table.to_string()).collect::<Vec<_>>(), ["pg.secret.counts"]);
    }

    #[test]
    fn table_functions_are_refused() {
        for sql in [
            "SELECT * FROM t, unnest(t.arr)",
            "SELECT * FROM evil.generate_series(1, 10)",
            "SELECT * FROM t JOIN pg_catalog.pg_ls_dir('.') d ON true",
            "SELECT * FROM ROWS FROM (generate_series(1, 2))",
        ] {
            let error = refused(sql, Dialect::Postgres);
            assert!(matches!(error, PolicyError::TableFunction(_) | PolicyError::Parse(_)), "{sql}: {error}");
        }
        for sql in ["SELECT value FROM json_each('[1]')", "SELECT * FROM pragma_table_info('t')", "SELECT 1 WHERE 1 IN json_each('[1]')"] {
            assert!(matches!(refused(sql, Dialect::Sqlite), PolicyError::TableFunction(_)), "{sql}");
        }
    }
}
