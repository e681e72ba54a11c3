//! The data plane: commands and files through a sandbox's toolbox (`{toolboxProxyUrl}/{id}`).
//!
//! The toolbox base comes from the sandbox record and is cached per id; when a record has none,
//! `GET /sandbox/{id}/toolbox-proxy-url` supplies it. An exec request's `envs` and an env update
//! are the only bodies that may hold secrets; their values are never logged or put in an error. The
//! command is sent as is: the daemon writes it to a shell's stdin, as `sh -c` would run it.
//!
//! The daemon resolves relative paths (and runs commands without a `cwd`) in the image's
//! working directory, which need not be the home. The provider promises the home, so it asks
//! the daemon for it once per sandbox (`GET {toolbox}/user-home-dir`) and makes paths absolute;
//! when the daemon cannot say, paths go as given. An absolute path needs no home, so a command
//! run in an absolute `cwd` is one request (a status of many teammates sends one such each).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::multipart::{Form, Part};

use super::DaytonaProvider;
use super::http::{Repeat, join};
use super::sandbox::sandbox_what;
use crate::daytona_api as wire;
use crate::provider::{ExecOutput, ExecRequest, ProviderError, Result};

/// Extra time an exec request may take beyond the command's own timeout (network, queueing).
const EXEC_GRACE: Duration = Duration::from_secs(30);
/// Longest a file transfer may take (Daytona's SDK allows 30 minutes).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where one sandbox's toolbox is.
#[derive(Debug, Clone)]
pub(crate) struct ToolboxBase {
    /// `toolboxProxyUrl`, e.g. `https://proxy.app.daytona.io/toolbox`.
    proxy_url: String,
    /// The sandbox's id (callers may have named it by its name).
    id: String,
}

impl ToolboxBase {
    pub(super) fn url(&self, path: &[&str]) -> Result<Url> {
        let mut segments = vec![self.id.as_str()];
        segments.extend_from_slice(path);
        join(&self.proxy_url, &segments)
    }
}

impl DaytonaProvider {
    /// Records where a sandbox's toolbox is, under the key callers use and under its id.
    pub(crate) fn remember_toolbox(&self, key: &str, id: &str, proxy_url: &str) {
        if proxy_url.is_empty() {
            return;
        }
        let base = ToolboxBase {
            proxy_url: proxy_url.to_string(),
            id: id.to_string(),
        };
        let mut cache = self.toolbox.lock().expect("toolbox cache lock");
        cache.insert(key.to_string(), base.clone());
        cache.insert(id.to_string(), base);
    }

    pub(crate) fn forget_toolbox(&self, key: &str) {
        let mut cache = self.toolbox.lock().expect("toolbox cache lock");
        if let Some(base) = cache.remove(key) {
            cache.remove(&base.id);
            self.homes.lock().expect("home cache lock").remove(&base.id);
        }
    }

    /// The sandbox user's home directory, asked once and cached; `None` when the daemon cannot
    /// say (an old daemon, a stopped sandbox: the call that follows reports that).
    async fn home(&self, base: &ToolboxBase) -> Option<String> {
        if let Some(home) = self.homes.lock().expect("home cache lock").get(&base.id) {
            return Some(home.clone());
        }
        let url = base.url(&["user-home-dir"]).ok()?;
        let answer: wire::UserHomeDirResponse = self
            .http
            .json(&sandbox_what(&base.id), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await
            .ok()?;
        let home = answer.dir.trim_end_matches('/').to_string();
        if !home.starts_with('/') {
            return None;
        }
        self.homes
            .lock()
            .expect("home cache lock")
            .insert(base.id.clone(), home.clone());
        Some(home)
    }

    /// `path` as the daemon must get it: absolute as it is, else under the home (asked only
    /// here, where it is needed).
    async fn absolute(&self, base: &ToolboxBase, path: &str) -> String {
        if path.starts_with('/') {
            return path.to_string();
        }
        in_home(self.home(base).await.as_deref(), path)
    }

    pub(super) async fn toolbox_base(&self, id: &str) -> Result<ToolboxBase> {
        if let Some(base) = self.toolbox.lock().expect("toolbox cache lock").get(id) {
            return Ok(base.clone());
        }
        let record = self.get_sandbox(id).await?;
        if let Some(base) = self.toolbox.lock().expect("toolbox cache lock").get(id) {
            return Ok(base.clone());
        }
        // An older server leaves `toolboxProxyUrl` empty; it answers this instead.
        let url = self
            .http
            .api(&["sandbox", &record.id, "toolbox-proxy-url"])?;
        let answer: wire::ToolboxProxyUrl = self
            .http
            .json(&sandbox_what(id), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await?;
        self.remember_toolbox(id, &record.id, &answer.url);
        Ok(ToolboxBase {
            proxy_url: answer.url,
            id: record.id,
        })
    }

    pub(crate) async fn execute(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        let base = self.toolbox_base(id).await?;
        let url = base.url(&["process", "execute"])?;
        let cwd = match &request.cwd {
            Some(cwd) => Some(self.absolute(&base, cwd).await),
            None => self.home(&base).await,
        };
        let body = wire::ExecuteRequest {
            command: request.command.clone(),
            cwd,
            envs: Some(request.env.clone()).filter(|env| !env.is_empty()),
            timeout: request.timeout.map(whole_seconds),
        };
        let answer: Result<wire::ExecuteResponse> = self
            .http
            .json(&sandbox_what(id), Repeat::Once, |client| {
                let builder = client.post(url.clone()).json(&body);
                match request.timeout {
                    Some(timeout) => builder.timeout(timeout + EXEC_GRACE),
                    None => builder,
                }
            })
            .await;
        match answer {
            // Daytona answers -1 when the process could not be started; so does a reply
            // without any exit code.
            Ok(answer) => Ok(ExecOutput::exec(
                answer.exit_code.unwrap_or(-1),
                answer.result,
            )),
            Err(ProviderError::Timeout { .. }) if request.timeout.is_some() => {
                Err(ProviderError::Timeout {
                    message: format!(
                        "the command did not finish within {}",
                        humantime::format_duration(request.timeout.unwrap_or_default())
                    ),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// `POST {toolbox}/env`: processes started afterwards (exec, SSH) see the change. The values
    /// may be secrets; this body is, with an exec's `envs`, the only one that may carry them.
    pub(crate) async fn update_env(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        let base = self.toolbox_base(id).await?;
        let url = base.url(&["env"])?;
        let body = wire::UpdateEnvRequest {
            set: Some(set.clone()).filter(|set| !set.is_empty()),
            unset: Some(unset.to_vec()).filter(|unset| !unset.is_empty()),
            unset_value_prefix: None,
        };
        self.http
            .post(&sandbox_what(id), Repeat::Safe, &url, &body)
            .await
    }

    /// Writes a file with `files/bulk-upload`, as Daytona's SDK does; a daemon without that
    /// route (404) gets the older `files/upload?path=`.
    pub(crate) async fn upload_file(&self, id: &str, path: &str, contents: &[u8]) -> Result<()> {
        let base = self.toolbox_base(id).await?;
        let what = format!("file `{path}` in {}", sandbox_what(id));
        let path = &self.absolute(&base, path).await;
        let bulk = base.url(&["files", "bulk-upload"])?;
        let sent = self
            .http
            .send(&what, Repeat::Safe, |client| {
                let form = Form::new()
                    .text("files[0].path", path.clone())
                    .part("files[0].file", file_part(path, contents));
                client
                    .post(bulk.clone())
                    .multipart(form)
                    .timeout(TRANSFER_TIMEOUT)
            })
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(ProviderError::NotFound { .. }) => {
                let mut single = base.url(&["files", "upload"])?;
                single.query_pairs_mut().append_pair("path", path);
                self.http
                    .send(&what, Repeat::Safe, |client| {
                        let form = Form::new().part("file", file_part(path, contents));
                        client
                            .post(single.clone())
                            .multipart(form)
                            .timeout(TRANSFER_TIMEOUT)
                    })
                    .await
                    .map(drop)
            }
            Err(error) => Err(error),
        }
    }

    pub(crate) async fn download_file(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let base = self.toolbox_base(id).await?;
        let what = format!("file `{path}` in {}", sandbox_what(id));
        let path = &self.absolute(&base, path).await;
        let mut url = base.url(&["files", "download"])?;
        url.query_pairs_mut().append_pair("path", path);
        let reply = self
            .http
            .send(&what, Repeat::Safe, |client| {
                client.get(url.clone()).timeout(TRANSFER_TIMEOUT)
            })
            .await?;
        Ok(reply.body)
    }
}

/// `path` made absolute under `home`: relative, `~` and `~/...` paths; absolute paths and
/// everything without a known home are left as they are (but for a leading `~/`).
fn in_home(home: Option<&str>, path: &str) -> String {
    let relative = match path {
        "~" => "",
        _ if path.starts_with('/') => return path.to_string(),
        _ => path.strip_prefix("~/").unwrap_or(path),
    };
    match (home, relative) {
        (Some(home), "") => home.to_string(),
        (Some(home), relative) => format!("{home}/{relative}"),
        (None, "") => ".".to_string(),
        (None, relative) => relative.to_string(),
    }
}

fn file_part(path: &str, contents: &[u8]) -> Part {
    Part::bytes(contents.to_vec())
        .file_name(path.to_string())
        .mime_str("application/octet-stream")
        .expect("a valid MIME type")
}

/// The daemon takes whole seconds, and 0 would mean no timeout at all.
fn whole_seconds(timeout: Duration) -> u32 {
    let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    u32::try_from(seconds.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_absolute_under_the_home() {
        let home = Some("/home/daytona");
        assert_eq!(in_home(home, "app/x.sh"), "/home/daytona/app/x.sh");
        assert_eq!(in_home(home, "~/x.sh"), "/home/daytona/x.sh");
        assert_eq!(in_home(home, "~"), "/home/daytona");
        assert_eq!(in_home(home, "/etc/hosts"), "/etc/hosts");
        assert_eq!(in_home(None, "~/x.sh"), "x.sh");
        assert_eq!(in_home(None, "x.sh"), "x.sh");
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
