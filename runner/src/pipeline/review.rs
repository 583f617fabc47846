//! `runner schedule submit`: a trial run, then a review branch `tiffin/<name>` holding one new
//! commit on the base branch with the notebook, the spec, the generated DAG (`dags/<name>.py`) and
//! the test plan; then, when asked, a push and a pull request. A failed trial creates nothing.

use std::path::PathBuf;

use super::codehost::{self, CodeHostError, PullRequest};
use super::preview::Preview;
use super::settings::{ReviewSettings, SettingsError};
use super::testplan;
use super::trial::{self, TrialError, TrialRun};
use crate::data::config::{Config, ConfigError};
use crate::git::{File, GitError};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Trial(#[from] TrialError),
    #[error("preparing the trial run's directory {0}: {1}")]
    Scratch(PathBuf, std::io::Error),
    #[error(transparent)]
    CodeHost(#[from] CodeHostError),
}

#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// Push the branch to this remote.
    pub push: Option<String>,
    /// Open a pull request (pushing to `[review] remote` unless `push` names one).
    pub pull_request: bool,
}

/// What a submission did.
pub enum Submitted {
    /// The trial run failed: no branch, no commit.
    TrialFailed {
        trial: TrialRun,
        test_plan: String,
    },
    Created(Box<Submission>),
}

pub struct Submission {
    pub branch: String,
    pub commit: String,
    pub base: String,
    pub base_commit: String,
    /// The commit the branch held before, when this submission replaced it.
    pub replaced: Option<String>,
    pub test_plan_path: String,
    pub test_plan: String,
    pub trial: TrialRun,
    pub pushed_to: Option<String>,
    pub pull_request: Option<PullRequest>,
    /// Why the push or the pull request failed (the branch exists locally all the same).
    pub publish_error: Option<String>,
}

/// Where a submission has got to, for whoever shows its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The trial run, which writes its messages to `log` as it goes.
    Trial {
        log: PathBuf,
    },
    /// Committing the review branch.
    Branch,
    Push,
    PullRequest,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trial { .. } => "trial",
            Self::Branch => "branch",
            Self::Push => "push",
            Self::PullRequest => "pull_request",
        }
    }
}

/// The review branch of a schedule.
pub fn branch(name: &str) -> String {
    format!("tiffin/{name}")
}

/// Runs the trial and, when it succeeds, creates the review branch (and publishes it if asked).
/// `preview` must be schedulable; `on_phase` hears of each phase as it starts.
pub async fn submit(preview: &Preview, options: &SubmitOptions, on_phase: &(dyn Fn(Phase) + Sync)) -> Result<Submitted, ReviewError> {
    let settings = ReviewSettings::from_table(&Config::for_notebook(&preview.notebook_file, None)?.review)?;
    let repo = &preview.repo;
    let base_commit = repo.branch_commit(&settings.base)?.ok_or_else(|| GitError::NoBase(settings.base.clone()))?;
    if options.pull_request {
        codehost::credentials(&settings)?;
    }
    // Inside .git: kept for inspection until the next submission, never in `git status`.
    let scratch = repo.git_dir()?.join("tiffin-trials").join(&preview.spec.name);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| ReviewError::Scratch(scratch.clone(), e))?;
    }
    std::fs::create_dir_all(&scratch).map_err(|e| ReviewError::Scratch(scratch.clone(), e))?;
    on_phase(Phase::Trial { log: trial::log_file(&scratch) });
    let trial = trial::run(preview, &scratch).await?;
    let test_plan = testplan::render(preview, &trial, &settings.base, &base_commit);
    if !trial.succeeded() {
        return Ok(Submitted::TrialFailed { trial, test_plan });
    }
    let test_plan_path = testplan::path(preview);
    let files = [
        File { path: preview.notebook_path.to_string_lossy().into_owned(), content: preview.notebook_bytes.clone() },
        File { path: preview.spec_path.to_string_lossy().into_owned(), content: preview.spec_text.clone().into_bytes() },
        File { path: preview.dag_path.clone(), content: preview.dag.clone().into_bytes() },
        File { path: test_plan_path.clone(), content: test_plan.clone().into_bytes() },
    ];
    let message = format!(
        "Schedule {}: {}\n\nSubmitted with `runner schedule submit`: the notebook, its schedule spec, the generated\n\
         Airflow DAG and the test plan of a trial run ({}).\n",
        preview.spec.name,
        preview.notebook_path.display(),
        trial.manifest["status"].as_str().unwrap_or("completed"),
    );
    on_phase(Phase::Branch);
    let branch = branch(&preview.spec.name);
    let replaced = repo.branch_commit(&branch)?;
    let commit = repo.commit_on(&base_commit, &files, &message)?;
    repo.set_branch(&branch, &commit, replaced.as_deref())?;
    let mut submission = Submission {
        branch,
        commit,
        base: settings.base.clone(),
        base_commit,
        replaced,
        test_plan_path,
        test_plan,
        trial,
        pushed_to: None,
        pull_request: None,
        publish_error: None,
    };
    if let Err(error) = publish(preview, &settings, options, &mut submission, on_phase).await {
        submission.publish_error = Some(error);
    }
    Ok(Submitted::Created(Box::new(submission)))
}

/// Pushes the branch and opens the pull request, as asked.
async fn publish(
    preview: &Preview,
    settings: &ReviewSettings,
    options: &SubmitOptions,
    submission: &mut Submission,
    on_phase: &(dyn Fn(Phase) + Sync),
) -> Result<(), String> {
    let remote = options.push.clone().or_else(|| options.pull_request.then(|| settings.remote.clone()));
    let Some(remote) = remote else { return Ok(()) };
    on_phase(Phase::Push);
    preview.repo.push(&remote, &submission.branch).map_err(|e| e.to_string())?;
    submission.pushed_to = Some(remote);
    if options.pull_request {
        on_phase(Phase::PullRequest);
        let title = format!("Schedule {}: {}", preview.spec.name, preview.notebook_path.display());
        let pull = codehost::open_pull_request(settings, &submission.branch, &settings.base, &title, &submission.test_plan)
            .await
            .map_err(|e: CodeHostError| e.to_string())?;
        submission.pull_request = Some(pull);
    }
    Ok(())
}
