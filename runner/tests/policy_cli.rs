//! `runner policy` as a user runs it: the built binary on a real file.

use std::path::Path;
use std::process::{Command, Output};

fn runner(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runner")).args(args).current_dir(dir).output().expect("runner starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const CONFIG: &str = "# Tiffin settings\n[policy]\nmode = \"enforce\"  # refuse violations\n\n[policy.labels]\npii = [\"billing\"]\n";

#[test]
fn policy_label_show_and_check_work_on_the_nearest_tiffin_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiffin.toml"), CONFIG).unwrap();
    let nested = dir.path().join("notebooks");
    std::fs::create_dir(&nested).unwrap();

    let labelled = runner(&nested, &["policy", "label", "warehouse.customers", "pii"]);
    assert!(labelled.status.success(), "{labelled:?}");
    let column = runner(&nested, &["policy", "label", "warehouse.orders", "pii", "--column", "email"]);
    assert!(column.status.success(), "{column:?}");
    let text = std::fs::read_to_string(dir.path().join("tiffin.toml")).unwrap();
    assert!(text.starts_with(CONFIG), "comments and formatting kept:\n{text}");

    let shown = runner(&nested, &["policy", "show"]);
    assert!(shown.status.success(), "{shown:?}");
    let shown = stdout(&shown);
    for line in ["mode: enforce", "  pii: billing", "  warehouse.customers: pii", "    column email: pii"] {
        assert!(shown.lines().any(|l| l == line), "`{line}` missing from:\n{shown}");
    }
    let json: serde_json::Value = serde_json::from_slice(&runner(&nested, &["policy", "show", "--json"]).stdout).unwrap();
    assert_eq!(json["tables"][0]["table"], "warehouse.customers");

    let query = dir.path().join("q.sql");
    std::fs::write(&query, "SELECT id FROM customers").unwrap();
    let query = query.to_str().unwrap();
    let allowed = runner(&nested, &["policy", "check", "--purpose", "billing", query, "--source", "warehouse"]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    let refused = runner(&nested, &["policy", "check", "--purpose", "marketing", query, "--source", "warehouse"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stdout(&refused).contains("which does not allow the purpose `marketing`"));
    std::fs::write(dir.path().join("bad.sql"), "DELETE FROM customers").unwrap();
    let bad = runner(&nested, &["policy", "check", "--config", "../tiffin.toml", "../bad.sql", "--source", "warehouse"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn policy_without_a_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = runner(dir.path(), &["policy", "show", "--config", "nowhere.toml"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
}
