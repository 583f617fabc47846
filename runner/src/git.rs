//! The repository, through the `git` command (real git, no library): what a branch holds, for the
//! scheduler; and the review commit, built with plumbing on a temporary index so that the user's
//! working tree, index and current branch are never touched.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0} is not inside a git repository: schedules are reviewed and run from git, so keep them in one")]
    NotARepo(PathBuf),
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("the base branch `{0}` does not exist in this repository (set `base` in [review] of tiffin.toml)")]
    NoBase(String),
    #[error("`{0}` is the branch checked out here: switch to another branch before submitting, the review branch is rewritten")]
    CheckedOut(String),
}

/// A file of the review commit: its path in the repository and its bytes.
pub struct File {
    pub path: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository holding `dir`.
    pub fn discover(dir: &Path) -> Result<Self, GitError> {
        let root = text(run(dir, &["rev-parse", "--show-toplevel"], &[], None)).map_err(|error| match error {
            GitError::Failed { .. } => GitError::NotARepo(dir.to_path_buf()),
            other => other,
        })?;
        Ok(Self { root: PathBuf::from(root.trim_end_matches('\n')) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self, args: &[&str]) -> Result<String, GitError> {
        text(run(&self.root, args, &[], None))
    }

    /// Every file path in `commit`.
    pub fn files(&self, commit: &str) -> Result<BTreeSet<String>, GitError> {
        let out = run(&self.root, &["ls-tree", "-r", "-z", "--name-only", commit], &[], None)?;
        Ok(out.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect())
    }

    /// A file's bytes as committed.
    pub fn show(&self, commit: &str, path: &str) -> Result<Vec<u8>, GitError> {
        run(&self.root, &["show", &format!("{commit}:{path}")], &[], None)
    }

    /// Whether the work tree's copy of a committed file is the same (same blob).
    pub fn same_in_work_tree(&self, commit: &str, path: &str) -> Result<bool, GitError> {
        let committed = self.git(&["rev-parse", &format!("{commit}:{path}")])?;
        let on_disk = self.git(&["hash-object", "--", path])?;
        Ok(committed == on_disk)
    }

    /// The commit a branch points at, if the branch exists.
    pub fn branch_commit(&self, branch: &str) -> Result<Option<String>, GitError> {
        let reference = format!("refs/heads/{branch}");
        match self.git(&["rev-parse", "--verify", "--quiet", &format!("{reference}^{{commit}}")]) {
            Ok(commit) => Ok(Some(commit.trim().to_owned())),
            Err(GitError::Failed { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The repository's own directory (`.git`), where git keeps what is not in the working tree.
    pub fn git_dir(&self) -> Result<PathBuf, GitError> {
        Ok(PathBuf::from(self.git(&["rev-parse", "--absolute-git-dir"])?.trim_end_matches('\n')))
    }

    /// One new commit on `base` holding `base`'s tree plus `files` (added or replaced).
    pub fn commit_on(&self, base: &str, files: &[File], message: &str) -> Result<String, GitError> {
        let index = TemporaryIndex(self.git_dir()?.join(format!("tiffin-review-{}.index", std::process::id())));
        let env = [("GIT_INDEX_FILE", index.0.as_path())];
        run(&self.root, &["read-tree", base], &env, None)?;
        for file in files {
            let blob = text(run(&self.root, &["hash-object", "-w", "--no-filters", "--stdin"], &[], Some(&file.content)))?;
            let entry = format!("100644,{},{}", blob.trim(), file.path);
            run(&self.root, &["update-index", "--add", "--cacheinfo", &entry], &env, None)?;
        }
        let tree = text(run(&self.root, &["write-tree"], &env, None))?;
        let commit = text(run(&self.root, &["commit-tree", tree.trim(), "-p", base, "-F", "-"], &[], Some(message.as_bytes())))?;
        Ok(commit.trim().to_owned())
    }

    /// Points `branch` at `commit`, provided it still is at `previous` (`None`: does not exist).
    pub fn set_branch(&self, branch: &str, commit: &str, previous: Option<&str>) -> Result<(), GitError> {
        let reference = format!("refs/heads/{branch}");
        let head = self.git(&["symbolic-ref", "--quiet", "HEAD"]).unwrap_or_default();
        if head.trim() == reference {
            return Err(GitError::CheckedOut(branch.to_owned()));
        }
        self.git(&["update-ref", "-m", "runner schedule submit", &reference, commit, previous.unwrap_or("")])?;
        Ok(())
    }

    /// Pushes the branch, replacing the remote's copy only if it is the one last fetched or pushed
    /// (`--force-with-lease`): a resubmission rewrites the branch.
    pub fn push(&self, remote: &str, branch: &str) -> Result<(), GitError> {
        let reference = format!("refs/heads/{branch}");
        self.git(&["push", "--quiet", &format!("--force-with-lease={reference}"), remote, &format!("{reference}:{reference}")])?;
        Ok(())
    }
}

/// The index file of one submission, removed however it ends.
struct TemporaryIndex(PathBuf);

impl Drop for TemporaryIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn text(output: Result<Vec<u8>, GitError>) -> Result<String, GitError> {
    output.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)], stdin: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
    let mut command = Command::new("git");
    command.arg("-C").arg(dir).args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().map_err(GitError::Spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(GitError::Spawn)?;
    }
    let output = child.wait_with_output().map_err(GitError::Spawn)?;
    if !output.status.success() {
        return Err(GitError::Failed { args: args.join(" "), stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned() });
    }
    Ok(output.stdout)
}
