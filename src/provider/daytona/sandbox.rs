//! Sandbox lifecycle on the control plane: list, get, create (with adoption), start, stop,
//! delete, labels, lifecycle timers and SSH access.
//!
//! A create is the one call that is never repeated blindly: when its answer is lost (transport
//! failure, timeout, 5xx) the sandbox may exist anyway, so the provider first lists by the
//! request's labels and adopts the sandbox with the request's name; only when there is none does
//! it send the create once more (a bounded number of times). Waiting for `started` polls
//! `GET /sandbox/{id}` with the official SDK's back-off, from the moment the create or start was
//! answered. Nothing here maps HTTP statuses; `status` does that. SSH access is in `ssh`, the
//! conversion of records in `observe`.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::DaytonaProvider;
use super::http::{Repeat, Reply, outcome_unknown};
use crate::daytona_api as wire;
use crate::provider::{
    CreateSandbox, Labels, Lifecycle, Network, ProviderError, Result, Sandbox, SandboxState,
};

/// Items per `GET /sandbox` page (Daytona's default; its maximum is 200).
const PAGE_LIMIT: &str = "100";

/// `GET /sandbox` answers: a cursor page, or (servers before v0.180) a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum ListAnswer {
    Page(wire::ListSandboxesResponse),
    Bare(Vec<wire::Sandbox>),
}

/// Which state a wait is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    Started,
    Stopped,
}

impl DaytonaProvider {
    /// The full record of one sandbox, by id or name.
    pub(crate) async fn get_sandbox(&self, id: &str) -> Result<wire::Sandbox> {
        let url = self.http.api(&["sandbox", id])?;
        let record: wire::Sandbox = self
            .http
            .json(&sandbox_what(id), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await?;
        self.remember_toolbox(id, &record.id, &record.toolbox_proxy_url);
        Ok(record)
    }

    /// Every live sandbox carrying all `labels`, following `nextCursor` to the last page.
    /// `name` narrows the server's search by name prefix.
    pub(crate) async fn list_sandboxes(
        &self,
        labels: &Labels,
        name: Option<&str>,
    ) -> Result<Vec<Sandbox>> {
        let filter = serde_json::to_string(labels).expect("labels serialize");
        let mut sandboxes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.http.api(&["sandbox"])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", PAGE_LIMIT);
                if !labels.is_empty() {
                    query.append_pair("labels", &filter);
                }
                if let Some(name) = name {
                    query.append_pair("name", name);
                }
                if let Some(cursor) = &cursor {
                    query.append_pair("cursor", cursor);
                }
            }
            let answer: ListAnswer = self
                .http
                .json("sandbox list", Repeat::Safe, |client| {
                    client.get(url.clone()).timeout(self.http.request_timeout())
                })
                .await?;
            let next = match answer {
                ListAnswer::Page(page) => {
                    sandboxes.extend(page.items.into_iter().map(|item| self.observe_item(item)));
                    page.next_cursor.filter(|next| !next.is_empty())
                }
                ListAnswer::Bare(records) => {
                    sandboxes.extend(records.into_iter().map(|record| self.observe(record)));
                    None
                }
            };
            // A server that repeats a cursor would loop forever.
            if next.is_none() || next == cursor {
                break;
            }
            cursor = next;
        }
        // The filter is applied again here: the server's is eventually consistent, and an old
        // server may ignore it.
        sandboxes.retain(|sandbox| {
            is_live(&sandbox.state)
                && labels
                    .iter()
                    .all(|(key, value)| sandbox.labels.get(key) == Some(value))
        });
        Ok(sandboxes)
    }

    pub(crate) async fn create_sandbox(&self, request: &CreateSandbox) -> Result<Sandbox> {
        let body = self.create_body(request);
        let record = self.create_or_adopt(request, &body).await?;
        // The wait for `started` counts from the answer: time the API took to answer (a stalled
        // or repeated create) is not time the sandbox took to start.
        let deadline = Instant::now() + self.settings.start_timeout;
        self.wait_for(&record.id, Goal::Started, deadline, Some(record.clone()))
            .await
    }

    /// Sends the create; when its answer is lost (transport failure, timeout, 5xx) the sandbox
    /// may exist anyway, so before each further attempt the sandbox it would have made is looked
    /// for by labels and name and adopted when found. A later attempt that finds the name taken
    /// means an earlier attempt landed after all (the list had not caught up with it).
    async fn create_or_adopt(
        &self,
        request: &CreateSandbox,
        body: &wire::CreateSandbox,
    ) -> Result<wire::Sandbox> {
        let mut attempt = 1;
        loop {
            let error = match self.post_create(body).await {
                Ok(record) => return Ok(record),
                Err(error) => error,
            };
            // Without a name there is nothing to recognise the sandbox by, so a create whose
            // answer was lost is reported, not repeated: a duplicate would cost quota silently.
            if request.name.is_empty() {
                return Err(error);
            }
            match error {
                ProviderError::Conflict { .. } if attempt > 1 => {
                    let record = self.get_sandbox(&request.name).await?;
                    return if carries(&record.labels, &request.labels) {
                        Ok(record)
                    } else {
                        Err(error)
                    };
                }
                error if outcome_unknown(&error) && attempt < self.settings.retry.attempts => {
                    tokio::time::sleep(self.http.backoff(attempt)).await;
                    if let Some(record) = self.adopt(request).await? {
                        return Ok(record);
                    }
                }
                error => return Err(error),
            }
            attempt += 1;
        }
    }

    /// The `POST /sandbox` body: new fields only when asked for, and never resources: Daytona
    /// accepts them only with `buildInfo` (an image build), and sizes every other sandbox from
    /// its snapshot, refusing a create that names both.
    fn create_body(&self, request: &CreateSandbox) -> wire::CreateSandbox {
        let lifecycle = &request.lifecycle;
        wire::CreateSandbox {
            name: Some(request.name.clone()).filter(|name| !name.is_empty()),
            snapshot: request.snapshot.clone(),
            user: request.user.clone(),
            env: Some(request.env.clone()).filter(|env| !env.is_empty()),
            labels: Some(request.labels.clone()),
            target: self.settings.target.clone(),
            auto_stop_interval: lifecycle.auto_stop.map(saturate),
            auto_archive_interval: lifecycle.auto_archive.map(saturate),
            auto_delete_interval: lifecycle.auto_delete,
            ttl_minutes: request.ttl_minutes,
            volumes: Some(
                request
                    .volumes
                    .iter()
                    .map(|volume| wire::SandboxVolume {
                        volume_id: volume.volume_id.clone(),
                        mount_path: volume.mount_path.clone(),
                        subpath: volume.subpath.clone(),
                    })
                    .collect::<Vec<_>>(),
            )
            .filter(|volumes| !volumes.is_empty()),
            // Only `serve` redirects web traffic; elsewhere such a network is what it allows.
            network_block_all: matches!(
                request.network,
                Network::Blocked | Network::Proxied { allowed: None, .. }
            )
            .then_some(true),
            network_allow_list: request.network.allow_list().map(ToString::to_string),
            ..Default::default()
        }
    }

    async fn post_create(&self, body: &wire::CreateSandbox) -> Result<wire::Sandbox> {
        let url = self.http.api(&["sandbox"])?;
        // Daytona answers 404 on create for an unknown target (a missing snapshot is a 400).
        let what = match &body.target {
            Some(target) => format!("target `{target}`"),
            None => "the organisation's default target".to_string(),
        };
        let record: wire::Sandbox = self
            .http
            .json(&what, Repeat::Once, |client| {
                client
                    .post(url.clone())
                    .json(body)
                    .timeout(self.http.transition_timeout())
            })
            .await?;
        self.remember_toolbox(&record.id, &record.id, &record.toolbox_proxy_url);
        Ok(record)
    }

    /// The sandbox an earlier, unanswered create made, if the API lists one.
    async fn adopt(&self, request: &CreateSandbox) -> Result<Option<wire::Sandbox>> {
        let listed = self
            .list_sandboxes(&request.labels, Some(&request.name))
            .await?;
        match listed
            .into_iter()
            .find(|sandbox| sandbox.name == request.name)
        {
            Some(sandbox) => self.get_sandbox(&sandbox.id).await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) async fn start_sandbox(&self, id: &str) -> Result<Sandbox> {
        let record = self.transition_post(id, "start").await?;
        let deadline = Instant::now() + self.settings.start_timeout;
        self.wait_for(&record.id, Goal::Started, deadline, Some(record.clone()))
            .await
    }

    pub(crate) async fn stop_sandbox(&self, id: &str) -> Result<Sandbox> {
        let record = self.transition_post(id, "stop").await?;
        let deadline = Instant::now() + self.settings.start_timeout;
        self.wait_for(&record.id, Goal::Stopped, deadline, Some(record.clone()))
            .await
    }

    pub(crate) async fn delete_sandbox(&self, id: &str) -> Result<()> {
        let url = self.http.api(&["sandbox", id])?;
        self.http.delete(&sandbox_what(id), &url).await?;
        self.forget_toolbox(id);
        Ok(())
    }

    pub(crate) async fn replace_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox> {
        let url = self.http.api(&["sandbox", id, "labels"])?;
        let body = wire::SandboxLabels {
            labels: labels.clone(),
        };
        let response = self
            .http
            .send(&sandbox_what(id), Repeat::Safe, |client| {
                client
                    .put(url.clone())
                    .json(&body)
                    .timeout(self.http.request_timeout())
            })
            .await?;
        let record = self.record_or_get(id, response).await?;
        Ok(self.observe(record))
    }

    /// One `POST autostop|autoarchive|autodelete/{minutes}` per field that is set.
    pub(crate) async fn change_lifecycle(
        &self,
        id: &str,
        lifecycle: &Lifecycle,
    ) -> Result<Sandbox> {
        let changes = [
            ("autostop", lifecycle.auto_stop.map(i64::from)),
            ("autoarchive", lifecycle.auto_archive.map(i64::from)),
            ("autodelete", lifecycle.auto_delete.map(i64::from)),
        ];
        let mut latest = None;
        for (path, minutes) in changes {
            if let Some(minutes) = minutes {
                let timeout = self.http.request_timeout();
                latest = Some(
                    self.lifecycle_post(id, &[path, &minutes.to_string()], timeout)
                        .await?,
                );
            }
        }
        match latest {
            Some(record) => Ok(self.observe(record)),
            None => self
                .get_sandbox(id)
                .await
                .map(|record| self.observe(record)),
        }
    }

    /// `POST /sandbox/{id}/start|stop`, which Daytona answers once its runner has acted.
    async fn transition_post(&self, id: &str, action: &str) -> Result<wire::Sandbox> {
        let timeout = self.http.transition_timeout();
        self.lifecycle_post(id, &[action], timeout).await
    }

    /// `POST /sandbox/{id}/...`: start, stop and the timers, all safe to repeat. Any 2xx
    /// counts (the timers answer 201).
    async fn lifecycle_post(
        &self,
        id: &str,
        path: &[&str],
        timeout: Duration,
    ) -> Result<wire::Sandbox> {
        let mut segments = vec!["sandbox", id];
        segments.extend_from_slice(path);
        let url = self.http.api(&segments)?;
        let response = self
            .http
            .send(&sandbox_what(id), Repeat::Safe, |client| {
                client.post(url.clone()).timeout(timeout)
            })
            .await?;
        self.record_or_get(id, response).await
    }

    /// The sandbox an answer carries, or a fresh GET when its body is not a full record
    /// (`PUT labels` is documented to return only the labels, and a 201 may be empty).
    async fn record_or_get(&self, id: &str, reply: Reply) -> Result<wire::Sandbox> {
        match reply.json::<wire::Sandbox>() {
            Ok(record) => Ok(record),
            Err(_) => self.get_sandbox(id).await,
        }
    }

    /// Polls until the sandbox reaches `goal`: 100 ms at first, ×1.1 per poll after 5 s,
    /// never more than 1 s apart (Daytona's SDK). `error` and `build_failed` end the wait.
    async fn wait_for(
        &self,
        id: &str,
        goal: Goal,
        deadline: Instant,
        mut record: Option<wire::Sandbox>,
    ) -> Result<Sandbox> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let current = match record.take() {
                Some(record) => record,
                None => self.get_sandbox(id).await?,
            };
            let sandbox = self.observe(current);
            let reached = match goal {
                Goal::Started => sandbox.state == SandboxState::Started,
                Goal::Stopped => sandbox.state == SandboxState::Stopped,
            };
            if reached {
                return Ok(sandbox);
            }
            if sandbox.state.is_failed() {
                let reason = sandbox.error_reason.as_deref().unwrap_or("no reason given");
                return Err(ProviderError::Api {
                    status: None,
                    message: format!(
                        "sandbox `{}` is in state `{}`: {reason}",
                        sandbox.name, sandbox.state
                    ),
                    retryable: false,
                });
            }
            if !is_live(&sandbox.state) {
                return Err(ProviderError::not_found(sandbox_what(id)));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProviderError::Timeout {
                    message: format!(
                        "sandbox `{}` is still `{}` after {}s",
                        sandbox.name,
                        sandbox.state,
                        (now - started).as_secs()
                    ),
                });
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            if started.elapsed() > Duration::from_secs(5) {
                delay = delay.mul_f64(1.1).min(Duration::from_secs(1));
            }
        }
    }
}

pub(crate) fn sandbox_what(id: &str) -> String {
    format!("sandbox `{id}`")
}

fn carries(labels: &Labels, wanted: &Labels) -> bool {
    wanted
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

/// Destroyed and destroying sandboxes are not listed: they are already going away.
fn is_live(state: &SandboxState) -> bool {
    !matches!(state, SandboxState::Destroyed | SandboxState::Destroying)
}

fn saturate(minutes: u32) -> i32 {
    i32::try_from(minutes).unwrap_or(i32::MAX)
}
