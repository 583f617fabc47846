//! The routes and their handlers. Each handler checks what the client gave (repository paths
//! stay in the repository, run ids are UUIDs) before the store or a file is touched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::handler::Handler;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Token, require_token};
use super::error::ApiError;
use super::state::ApiState;
use super::submissions::JobView;
use super::{events, openapi, run_record, submissions};
use crate::data::config::Config;
use crate::pipeline::{self, preview::Preview, review::SubmitOptions};
use crate::policy::PolicyConfig;
use crate::serve::actions::{self, ScheduleView};
use crate::serve::repo;
use crate::serve::store::RunRow;

/// Runs one page lists by default, and at most.
const DEFAULT_RUNS: u32 = 20;
const MAX_RUNS: u32 = 1000;

/// The router, with every route it has listed, so the OpenAPI document can be checked against it.
pub struct Routes {
    router: Router<ApiState>,
    pub listed: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H: Handler<T, ApiState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, axum::routing::get(handler));
        self.listed.push(("get", path));
        self
    }

    fn post<H: Handler<T, ApiState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, axum::routing::post(handler));
        self.listed.push(("post", path));
        self
    }
}

pub fn routes() -> Routes {
    Routes { router: Router::new(), listed: Vec::new() }
        .get("/api/v1/openapi.json", openapi_document)
        .get("/api/v1/schedules", list_schedules)
        .get("/api/v1/schedules/{name}", get_schedule)
        .get("/api/v1/schedules/{name}/runs", schedule_runs)
        .post("/api/v1/schedules/{name}/run", run_now)
        .post("/api/v1/schedules/{name}/pause", pause)
        .get("/api/v1/runs/{id}", get_run)
        .get("/api/v1/runs/{id}/log", run_log)
        .get("/api/v1/runs/{id}/notebook", run_notebook)
        .get("/api/v1/runs/{id}/events", run_events)
        .post("/api/v1/runs/{id}/cancel", cancel)
        .post("/api/v1/runs/{id}/retry", retry)
        .get("/api/v1/info", info)
        .post("/api/v1/preview", preview)
        .post("/api/v1/submissions", submit)
        .get("/api/v1/submissions/{id}", get_submission)
        .get("/api/v1/submissions/{id}/events", submission_events)
}

/// The API's router; with a token, every request must carry it.
pub fn router(state: ApiState, token: Option<Token>) -> Router {
    let router = routes().router.fallback(unknown_route).method_not_allowed_fallback(wrong_method).with_state(state);
    match token {
        Some(token) => router.layer(middleware::from_fn_with_state(token, require_token)),
        None => router,
    }
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi::DOCUMENT).into_response()
}

/// A repository-relative path given by a client, normalized; one that leaves the repository
/// (absolute, or climbing out with `..`) is refused.
fn repo_path(given: &str) -> Result<String, ApiError> {
    let path = Path::new(given);
    if path.is_absolute() {
        return Err(ApiError::BadRequest(format!("`{given}` is absolute: give a path relative to the repository")));
    }
    repo::normalize(path).ok_or_else(|| ApiError::BadRequest(format!("`{given}` is not a path inside the repository")))
}

/// A run id as the store writes it; anything but a UUID is refused before any lookup.
fn run_id(given: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(given)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::BadRequest(format!("`{given}` is not a run id (a UUID)")))
}

#[derive(Deserialize)]
struct SchedulesQuery {
    /// Only the schedules of this notebook (repository-relative).
    notebook: Option<String>,
}

async fn list_schedules(
    State(state): State<ApiState>,
    query: Result<Query<SchedulesQuery>, QueryRejection>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let Query(query) = query?;
    let notebook = query.notebook.as_deref().map(repo_path).transpose()?;
    state.with_store(move |store| Ok(actions::schedules(store, notebook.as_deref())?)).await.map(Json)
}

async fn get_schedule(State(state): State<ApiState>, UrlPath(name): UrlPath<String>) -> Result<Json<ScheduleView>, ApiError> {
    state.with_store(move |store| Ok(actions::schedule_view(store, &store.schedule(&name)?)?)).await.map(Json)
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<u32>,
}

async fn schedule_runs(
    State(state): State<ApiState>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<RunRow>>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_RUNS).min(MAX_RUNS);
    state
        .with_store(move |store| {
            store.schedule(&name)?;
            Ok(store.runs(Some(&name), limit)?)
        })
        .await
        .map(Json)
}

async fn run_now(State(state): State<ApiState>, UrlPath(name): UrlPath<String>) -> Result<(StatusCode, Json<RunRow>), ApiError> {
    let run = state.with_store(move |store| Ok(actions::run_now(store, &name)?)).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    paused: bool,
}

async fn pause(
    State(state): State<ApiState>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<PauseBody>, JsonRejection>,
) -> Result<Json<ScheduleView>, ApiError> {
    let Json(body) = body?;
    state
        .with_store(move |store| {
            store.set_paused(&name, body.paused)?;
            Ok(actions::schedule_view(store, &store.schedule(&name)?)?)
        })
        .await
        .map(Json)
}

/// The run with this id, or why not.
async fn find_run(state: &ApiState, given: &str) -> Result<RunRow, ApiError> {
    let id = run_id(given)?;
    state.with_store(move |store| Ok(store.run(&id)?)).await
}

async fn get_run(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Json<run_record::RunDetail>, ApiError> {
    let run = find_run(&state, &id).await?;
    Ok(Json(run_record::detail(run)))
}

async fn run_log(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let run = find_run(&state, &id).await?;
    let log = run_record::log(Path::new(&run.record_dir))
        .ok_or_else(|| ApiError::NotFound(format!("run {} has no log ({})", run.id, run.status.as_str())))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}

async fn run_notebook(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let run = find_run(&state, &id).await?;
    run_record::executed_notebook(Path::new(&run.record_dir))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("run {} has no executed notebook ({})", run.id, run.status.as_str())))
}

async fn run_events(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let run = find_run(&state, &id).await?;
    Ok(events::follow_run(state, run).into_response())
}

async fn cancel(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Json<RunRow>, ApiError> {
    let id = run_id(&id)?;
    state.with_store(move |store| Ok(store.request_cancel(&id)?)).await.map(Json)
}

async fn retry(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<(StatusCode, Json<RunRow>), ApiError> {
    let id = run_id(&id)?;
    let run = state.with_store(move |store| Ok(actions::retry(store, &id)?)).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// A spec named by a client: a `*.schedule.toml` file of the repository's work tree.
fn spec_file(state: &ApiState, given: &str) -> Result<PathBuf, ApiError> {
    let relative = repo_path(given)?;
    if !relative.ends_with(repo::SPEC_SUFFIX) {
        return Err(ApiError::BadRequest(format!("`{given}` is not a schedule spec (a *{} file)", repo::SPEC_SUFFIX)));
    }
    let path = state.root.join(&relative);
    if !path.is_file() {
        return Err(ApiError::NotFound(format!("no spec {relative} in the repository")));
    }
    Ok(path)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    /// The spec, relative to the repository.
    spec: String,
}

async fn preview(State(state): State<ApiState>, body: Result<Json<PreviewBody>, JsonRejection>) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let path = spec_file(&state, &body.spec)?;
    let preview = Preview::build(&path, Utc::now()).await.map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    Ok(Json(preview.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    spec: String,
    /// Push the review branch to this remote.
    #[serde(default)]
    push: Option<String>,
    /// Open a pull request ([review] in tiffin.toml).
    #[serde(default)]
    pull_request: bool,
}

/// Starts the trial run and the review branch (202 with the submission to follow), or answers
/// at once with the reasons the schedule cannot run (422, nothing started).
async fn submit(State(state): State<ApiState>, body: Result<Json<SubmitBody>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let path = spec_file(&state, &body.spec)?;
    let preview = Preview::build(&path, Utc::now()).await.map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if !preview.schedulable() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(pipeline::command::unschedulable_json(&preview))).into_response());
    }
    let options = SubmitOptions { push: body.push, pull_request: body.pull_request };
    let job = state.submissions.start(body.spec, preview, options)?;
    let view = job.view();
    let location = format!("/api/v1/submissions/{}", view.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(view)).into_response())
}

async fn get_submission(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Json<JobView>, ApiError> {
    Ok(Json(state.submissions.find(&run_id(&id)?)?.view()))
}

async fn submission_events(State(state): State<ApiState>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let job = state.submissions.find(&run_id(&id)?)?;
    Ok(submissions::follow(job).into_response())
}

#[derive(Deserialize)]
struct InfoQuery {
    /// The purposes of this notebook's policy (repository-relative) rather than the root's.
    notebook: Option<String>,
    /// A directory (absolute, as a client such as Jupyter names it) to locate in the repository.
    jupyter_root: Option<String>,
}

/// The repository the daemon serves, the purposes its policy knows (what a schedule's `purpose`
/// can be), and where a client's root directory is in it: resolved here, where symbolic links
/// can be followed, so a client never compares absolute paths itself.
async fn info(State(state): State<ApiState>, query: Result<Query<InfoQuery>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let dir = match query.notebook.as_deref().map(repo_path).transpose()? {
        Some(notebook) => state.root.join(notebook).parent().map(Path::to_path_buf).unwrap_or_else(|| state.root.to_path_buf()),
        None => state.root.to_path_buf(),
    };
    let config = Config::for_dir(&dir, None).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let policy = PolicyConfig::from_table(&config.policy).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let purposes: BTreeSet<&String> = policy.labels.values().flatten().collect();
    let mut info = serde_json::json!({
        "repo_root": state.root.to_string_lossy(),
        "branch": &*state.branch,
        "purposes": purposes,
    });
    if let Some(root) = &query.jupyter_root {
        info["jupyter_root"] = serde_json::json!(within_repository(&state.root, Path::new(root)));
    }
    Ok(Json(info))
}

/// `dir` relative to the repository's top (`""` for the top itself), both with their symbolic
/// links resolved; `None` when it is outside or does not exist.
fn within_repository(root: &Path, dir: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let dir = std::fs::canonicalize(dir).ok()?;
    dir.strip_prefix(&root).ok().map(|inside| inside.to_string_lossy().into_owned())
}
