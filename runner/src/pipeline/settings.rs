//! `[review]` in tiffin.toml: where review branches start and go, and the code host's API.
//!
//! ```toml
//! [review]
//! base = "main"                          # the branch review commits go on top of (default main)
//! remote = "origin"                      # pushed to for --pull-request without --push
//! api_url = "https://api.github.com"     # a GitHub-shaped REST API (default)
//! repository = "owner/name"              # needed for --pull-request
//! token_env = "GITHUB_TOKEN"             # the variable holding the API token (never the token)
//! ```

use serde::Deserialize;

const DEFAULT_BASE: &str = "main";
const DEFAULT_REMOTE: &str = "origin";
const DEFAULT_API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSettings {
    pub base: String,
    pub remote: String,
    pub api_url: String,
    /// `owner/name`.
    pub repository: Option<String>,
    pub token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReview {
    base: Option<String>,
    remote: Option<String>,
    api_url: Option<String>,
    repository: Option<String>,
    token_env: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("[review] in tiffin.toml: {0}")]
pub struct SettingsError(String);

impl ReviewSettings {
    pub fn from_table(table: &toml::Table) -> Result<Self, SettingsError> {
        let raw: RawReview = table.clone().try_into().map_err(|e: toml::de::Error| SettingsError(e.message().to_owned()))?;
        if let Some(repository) = &raw.repository
            && !repository.split_once('/').is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
        {
            return Err(SettingsError(format!("repository `{repository}` is not `owner/name`")));
        }
        let api_url = raw.api_url.unwrap_or_else(|| DEFAULT_API_URL.into());
        if !reqwest::Url::parse(&api_url).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
            return Err(SettingsError(format!("api_url `{api_url}` is not an http(s) URL")));
        }
        Ok(Self {
            base: raw.base.unwrap_or_else(|| DEFAULT_BASE.into()),
            remote: raw.remote.unwrap_or_else(|| DEFAULT_REMOTE.into()),
            api_url: api_url.trim_end_matches('/').to_owned(),
            repository: raw.repository,
            token_env: raw.token_env,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<ReviewSettings, SettingsError> {
        ReviewSettings::from_table(&text.parse::<toml::Table>().unwrap_or_default())
    }

    #[test]
    fn defaults_and_checks() {
        let defaults = settings("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (defaults.base.as_str(), defaults.remote.as_str(), defaults.api_url.as_str()),
            ("main", "origin", "https://api.github.com")
        );
        let set = settings("base = \"trunk\"\napi_url = \"http://127.0.0.1:9/api/\"\nrepository = \"acme/reports\"\ntoken_env = \"T\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (set.base.as_str(), set.api_url.as_str(), set.repository.as_deref()),
            ("trunk", "http://127.0.0.1:9/api", Some("acme/reports"))
        );
        assert!(settings("repository = \"acme\"").is_err_and(|e| e.to_string().contains("not `owner/name`")));
        assert!(settings("api_url = \"ftp://x\"").is_err());
        assert!(settings("bsae = \"main\"").is_err_and(|e| e.to_string().contains("bsae")));
    }
}
