//! The repository as the scheduler sees it: only what is committed on the main branch runs (so
//! only what went through review), read with the `git` CLI; the work tree is where a run's
//! relative files and its data sources are.

use std::path::{Component, Path, PathBuf};

use chrono::NaiveDate;

use super::store::SeenSchedule;
use crate::data::config::FILE_NAME as CONFIG_FILE;
use crate::git::{self, GitError};
use crate::schedule;

/// What a spec file is called: `<anything>.schedule.toml`.
pub const SPEC_SUFFIX: &str = ".schedule.toml";

pub struct Repo {
    pub git: git::Repo,
    pub branch: String,
}

/// A repository-relative path with `..` and `.` resolved; `None` if it leaves the repository.
pub fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Repo {
    pub fn root(&self) -> &Path {
        self.git.root()
    }

    /// Where a notebook's relative files and its `tiffin.toml` are: its directory in the work tree.
    pub fn home(&self, notebook: &str) -> PathBuf {
        Path::new(notebook).parent().map_or_else(|| self.root().to_path_buf(), |dir| self.root().join(dir))
    }

    /// The commit the branch points at (`None`: the branch is gone).
    pub fn head(&self) -> Result<Option<String>, GitError> {
        self.git.branch_commit(&self.branch)
    }

    /// Every schedule spec on the branch at `commit`, checked; a spec that does not check is kept
    /// with its problems, so `runner schedule list` can say why it does not run.
    pub fn schedules(&self, commit: &str, today: NaiveDate) -> Result<Vec<SeenSchedule>, GitError> {
        let files = self.git.files(commit)?;
        let mut seen: Vec<SeenSchedule> = Vec::new();
        for spec_path in files.iter().filter(|f| f.ends_with(SPEC_SUFFIX)) {
            let text = String::from_utf8_lossy(&self.git.show(commit, spec_path)?).into_owned();
            let dir = Path::new(spec_path).parent().unwrap_or(Path::new(""));
            let exists = |notebook: &Path| normalize(notebook).is_some_and(|n| files.contains(&n));
            let fallback_name = spec_path.trim_end_matches(SPEC_SUFFIX).rsplit('/').next().unwrap_or(spec_path).to_owned();
            let (name, notebook, problem) = match schedule::parse(&text, dir, schedule::ReadOn::Scheduled(today), &exists) {
                Ok(spec) => (spec.name.clone(), normalize(&dir.join(&spec.notebook)).unwrap_or_default(), None),
                Err(problems) => {
                    let text: Vec<String> =
                        problems.iter().map(|p| format!("{spec_path}:{}:{}: {}", p.line, p.column, p.message)).collect();
                    (fallback_name, String::new(), Some(text.join("\n")))
                }
            };
            if let Some(other) = seen.iter().find(|s| s.name == name) {
                let problem = Some(format!("{spec_path}: the name `{name}` is already used by {}", other.spec_path));
                seen.push(SeenSchedule {
                    name: format!("{name}@{spec_path}"),
                    spec_path: spec_path.clone(),
                    notebook,
                    spec_text: text,
                    problem,
                });
                continue;
            }
            seen.push(SeenSchedule { name, spec_path: spec_path.clone(), notebook, spec_text: text, problem });
        }
        Ok(seen)
    }

    /// The `tiffin.toml` a run of `notebook` uses: the nearest one on the branch from the
    /// notebook's directory up, which must be the same file in the work tree (the work tree's is
    /// what the runner reads, with paths relative to it). `Ok(None)`: neither has one.
    pub fn config_for(&self, commit: &str, notebook: &str) -> Result<Option<PathBuf>, String> {
        let files = self.git.files(commit).map_err(|e| e.to_string())?;
        let mut dir = Path::new(notebook).parent();
        while let Some(current) = dir {
            let candidate = current.join(CONFIG_FILE);
            let relative = candidate.to_string_lossy().into_owned();
            let on_disk = self.root().join(&candidate);
            if files.contains(&relative) {
                if !on_disk.is_file() {
                    return Err(format!("{relative} is on {} but not in the work tree {}", self.branch, self.root().display()));
                }
                if !self.git.same_in_work_tree(commit, &relative).map_err(|e| e.to_string())? {
                    return Err(format!(
                        "{relative} in the work tree differs from the one on {}: only reviewed settings run (check out {} there)",
                        self.branch, self.branch
                    ));
                }
                return Ok(Some(on_disk));
            }
            if on_disk.is_file() {
                return Err(format!("{relative} is in the work tree but not on {}: only reviewed settings run", self.branch));
            }
            dir = current.parent();
        }
        Ok(None)
    }
}
