//! What can go wrong while checking a run against the policy.

/// Every error fails closed: the caller must not move data when it gets one, in either mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot parse the SQL: {0}")]
    Parse(String),
    #[error("a SQL cell must hold exactly one statement, found {0}")]
    StatementCount(usize),
    #[error("only queries (SELECT, WITH, VALUES, set operations) may read data, found {0}")]
    NotAQuery(String),
    #[error("table-valued function `{0}` is not allowed: the runner must see every table a cell reads")]
    TableFunction(String),
    #[error("function `{0}` reads files, the network or other queries, which the runner could not track")]
    ForbiddenFunction(String),
    #[error("{0} is not supported in SQL cells")]
    Unsupported(String),
    #[error("cell {cell}: SQL cannot be resolved to the tables it reads, so it is refused: {reason}")]
    Unresolvable { cell: usize, reason: String },
    #[error("`{0}` is not a table name of the form <source>.<table> (e.g. warehouse.customers or pg.sales.orders)")]
    TableName(String),
    #[error("policy configuration: {0}")]
    Config(String),
}
