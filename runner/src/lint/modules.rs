//! Which Python modules and functions move data or act outside the run, and the message that says
//! why and what to do instead.

use super::rule::Rule;

/// Dotted names, matched as a whole or as a prefix of a longer name (`urllib.request` matches
/// `urllib.request.urlopen`); a trailing `*` matches any name starting with the rest.
const ENTRIES: &[(&str, Kind)] = &[
    // Network clients. Scheduled runs have no network at all.
    ("socket", Kind::Network),
    ("requests", Kind::Network),
    ("httpx", Kind::Network),
    ("urllib.request", Kind::Network),
    ("urllib3", Kind::Network),
    ("http.client", Kind::Network),
    ("aiohttp", Kind::Network),
    ("ftplib", Kind::Network),
    ("smtplib", Kind::Network),
    ("poplib", Kind::Network),
    ("imaplib", Kind::Network),
    ("telnetlib", Kind::Network),
    ("xmlrpc.client", Kind::Network),
    ("paramiko", Kind::Network),
    ("pycurl", Kind::Network),
    ("websocket", Kind::Network),
    ("websockets", Kind::Network),
    ("grpc", Kind::Network),
    ("boto3", Kind::Network),
    ("botocore", Kind::Network),
    ("google.cloud", Kind::Network),
    ("azure", Kind::Network),
    ("asyncio.open_connection", Kind::Network),
    // Database drivers: flows the runner cannot see nor check against the purpose policy.
    ("sqlite3", Kind::Database),
    ("sqlalchemy", Kind::Database),
    ("psycopg", Kind::Database),
    ("psycopg2", Kind::Database),
    ("pymysql", Kind::Database),
    ("MySQLdb", Kind::Database),
    ("mysql.connector", Kind::Database),
    ("duckdb", Kind::Database),
    ("pyodbc", Kind::Database),
    ("oracledb", Kind::Database),
    ("cx_Oracle", Kind::Database),
    ("snowflake.connector", Kind::Database),
    ("pandas.io.sql", Kind::Database),
    // Other programs: errors, since a program can do anything a shell escape can.
    ("subprocess", Kind::Program),
    ("os.system", Kind::Program),
    ("os.popen", Kind::Program),
    ("os.exec*", Kind::Program),
    ("os.spawn*", Kind::Program),
    ("os.posix_spawn*", Kind::Program),
    ("pty", Kind::Program),
    ("pexpect", Kind::Program),
    ("asyncio.create_subprocess_exec", Kind::Program),
    ("asyncio.create_subprocess_shell", Kind::Program),
    // Python worker processes: no new data flow, only the sandbox's limits to mind.
    ("multiprocessing", Kind::Workers),
    ("os.fork", Kind::Workers),
    ("os.forkpty", Kind::Workers),
    ("concurrent.futures.ProcessPoolExecutor", Kind::Workers),
    // The environment: scrubbed in a scheduled run.
    ("os.environ", Kind::Environment),
    ("os.environb", Kind::Environment),
    ("os.getenv", Kind::Environment),
    ("os.putenv", Kind::Environment),
    ("os.unsetenv", Kind::Environment),
];

/// What a flagged name does; each kind is one rule with one explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Database,
    Program,
    Workers,
    Environment,
}

impl Kind {
    pub fn rule(self) -> Rule {
        match self {
            Self::Network => Rule::Network,
            Self::Database => Rule::DynamicSql,
            Self::Program => Rule::Subprocess,
            Self::Workers => Rule::ChildProcess,
            Self::Environment => Rule::Environment,
        }
    }

    /// Why `name` is flagged, and what to do instead.
    pub fn message(self, name: &str) -> String {
        match self {
            Self::Network => format!(
                "`{name}` reaches the network, and a scheduled run has none; let the runner fetch data with a `%%sql` \
                 cell and write results with an `%%upload` cell"
            ),
            Self::Database => format!(
                "`{name}` talks to a database directly, a data flow the runner cannot see, record or check against the \
                 schedule's purpose; read with a `%%sql <name>` cell and write with an `%%upload <table>` cell instead"
            ),
            Self::Program => format!(
                "`{name}` runs other programs: the sandbox of a scheduled run has none to offer, and the runner cannot \
                 see what they read or write; do the work in Python"
            ),
            Self::Workers => format!(
                "`{name}` starts worker processes: not a data flow, but each counts against the sandbox's process and \
                 memory limits; prefer vectorised pandas/numpy, or keep the pool small"
            ),
            Self::Environment => format!(
                "`{name}` uses environment variables, and a scheduled run gets a scrubbed environment (no credentials, \
                 no host settings); make the value a notebook parameter instead"
            ),
        }
    }
}

/// What a dotted name is flagged for, and the entry that matched (`None`: nothing to say).
pub fn classify(name: &str) -> Option<(Kind, &'static str)> {
    ENTRIES.iter().find(|(entry, _)| matches(entry, name)).map(|&(entry, kind)| (kind, entry))
}

fn matches(entry: &str, name: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name.strip_prefix(entry).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')),
    }
}

/// How many dotted parts an entry has (`os.exec*` has two).
pub fn depth(entry: &str) -> usize {
    entry.split('.').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_and_prefixes_match() {
        assert_eq!(classify("requests"), Some((Kind::Network, "requests")));
        assert_eq!(classify("requests.get"), Some((Kind::Network, "requests")));
        assert_eq!(classify("urllib.request.urlopen"), Some((Kind::Network, "urllib.request")));
        assert_eq!(classify("os.execvp"), Some((Kind::Program, "os.exec*")));
        assert_eq!(classify("os.environ.get"), Some((Kind::Environment, "os.environ")));
        assert_eq!(depth("os.exec*"), 2);
    }

    #[test]
    fn neighbours_do_not_match() {
        for name in ["requests_cache", "urllib.parse", "urllib", "os", "os.path.join", "socketserver_x", "pandas", "google"] {
            assert_eq!(classify(name), None, "{name}");
        }
    }
}
