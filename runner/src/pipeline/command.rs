//! `runner schedule preview` and `runner schedule submit`: their output and exit codes.

use chrono::Utc;
use serde_json::{Value, json};

use super::preview::Preview;
use super::review::{self, SubmitOptions, Submitted};
use crate::exec::exit_code;

/// Exit code of `submit` when the branch was created but the push or the pull request failed.
pub const PUBLISH_FAILED: u8 = 3;

/// `runner schedule preview`: 0 schedulable, 1 not (everything printed all the same), 2 bad spec.
pub async fn preview(spec: &std::path::Path, json: bool) -> u8 {
    let preview = match Preview::build(spec, Utc::now()).await {
        Ok(preview) => preview,
        Err(error) => {
            eprintln!("runner: {error}");
            return exit_code::USAGE;
        }
    };
    if json {
        println!("{:#}", preview.to_json());
    } else {
        print!("{}", preview.human());
    }
    if preview.schedulable() { 0 } else { exit_code::NOT_ELIGIBLE }
}

/// `runner schedule submit`: 0 the branch was created (and published, if asked); 1 not
/// schedulable or the trial run failed (nothing created); 2 bad spec, repository or settings;
/// 3 the branch was created but the push or the pull request failed.
pub async fn submit(spec: &std::path::Path, options: SubmitOptions, json: bool) -> u8 {
    let preview = match Preview::build(spec, Utc::now()).await {
        Ok(preview) => preview,
        Err(error) => {
            eprintln!("runner: {error}");
            return exit_code::USAGE;
        }
    };
    if !preview.schedulable() {
        if json {
            println!("{:#}", unschedulable_json(&preview));
        } else {
            print!("{}", preview.human());
        }
        eprintln!("runner: nothing was submitted: {}", preview.verdict());
        return exit_code::NOT_ELIGIBLE;
    }
    let announce = |phase: review::Phase| {
        if !json && matches!(phase, review::Phase::Trial { .. }) {
            eprintln!("runner: trial run of {} (uploads are rolled back)...", preview.notebook_path.display());
        }
    };
    let submitted = match review::submit(&preview, &options, &announce).await {
        Ok(submitted) => submitted,
        Err(error) => {
            eprintln!("runner: {error}");
            return match error {
                review::ReviewError::Trial(_) | review::ReviewError::Scratch(..) => exit_code::INTERNAL,
                _ => exit_code::USAGE,
            };
        }
    };
    if json {
        println!("{:#}", submitted_json(&preview, &submitted));
    }
    match submitted {
        Submitted::TrialFailed { trial, test_plan } => {
            let failure = trial.failure().unwrap_or_default();
            if !json {
                print!("{test_plan}");
            }
            eprintln!("runner: the trial run failed: {failure}; nothing was submitted (executed notebook: {})", trial.notebook.display());
            exit_code::CELL_ERROR
        }
        Submitted::Created(done) => {
            if !json {
                let verb = match &done.replaced {
                    Some(old) => format!("replaced (was {})", short(old)),
                    None => "created".into(),
                };
                println!("branch {} {verb}: commit {} on {} ({})", done.branch, done.commit, done.base, short(&done.base_commit));
                println!(
                    "  {}\n  {}\n  {}\n  {}",
                    preview.notebook_path.display(),
                    preview.spec_path.display(),
                    preview.dag_path,
                    done.test_plan_path
                );
                if let Some(remote) = &done.pushed_to {
                    println!("pushed to {remote}");
                }
                if let Some(pr) = &done.pull_request {
                    println!("pull request{}: {}", if pr.existing { " (already open)" } else { "" }, pr.url);
                }
            }
            match &done.publish_error {
                Some(error) => {
                    eprintln!("runner: the branch {} was created, but publishing it failed: {error}", done.branch);
                    PUBLISH_FAILED
                }
                None => 0,
            }
        }
    }
}

/// What a submission did, as `--json` and the HTTP API give it.
pub fn submitted_json(preview: &Preview, submitted: &Submitted) -> Value {
    match submitted {
        Submitted::TrialFailed { trial, test_plan } => json!({
            "created": false,
            "test_plan": test_plan,
            "trial": trial_json(trial),
            "error": trial.failure().unwrap_or_default(),
        }),
        Submitted::Created(done) => json!({
            "created": true,
            "branch": done.branch,
            "commit": done.commit,
            "base": done.base,
            "base_commit": done.base_commit,
            "replaced": done.replaced,
            "files": [preview.notebook_path, preview.spec_path, preview.dag_path, done.test_plan_path],
            "pushed_to": done.pushed_to,
            "pull_request": done.pull_request.as_ref().map(|pr| json!({"url": pr.url, "number": pr.number, "existing": pr.existing})),
            "publish_error": done.publish_error,
            "test_plan": done.test_plan,
            "trial": trial_json(&done.trial),
        }),
    }
}

/// A submission refused before its trial run: the schedule cannot run.
pub fn unschedulable_json(preview: &Preview) -> Value {
    json!({"created": false, "preview": preview.to_json()})
}

fn trial_json(trial: &super::trial::TrialRun) -> Value {
    json!({
        "status": trial.manifest["status"],
        "exit_code": trial.exit_code,
        "notebook": trial.notebook,
        "data": trial.data,
        "manifest": trial.manifest,
    })
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
