//! Snapshots: get, list, create (from an image or a Dockerfile, then wait for `active`), delete.
//!
//! These are inherent methods of [`DaytonaProvider`] until the provider seam grows snapshot
//! operations. As with sandboxes, a create whose answer is lost is not repeated blindly: the
//! snapshot is looked up by name first. `DELETE /snapshots/{id}` takes only a UUID, so a name is
//! resolved to its id before deleting.

use std::time::{Duration, Instant};

use super::DaytonaProvider;
use super::http::{Repeat, outcome_unknown};
use crate::daytona_api as wire;
use crate::provider::{ProviderError, Resources, Result};

/// Daytona's SDK polls a building snapshot once a second.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A snapshot as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    /// `pending`, `pulling`, `building`, `active`, `inactive`, `error`, `build_failed`, ...
    pub state: String,
    pub image_name: Option<String>,
    pub error_reason: Option<String>,
    /// A system snapshot every organisation may use and none may delete.
    pub general: bool,
    /// vCPU, GiB, GiB.
    pub resources: Resources,
}

/// What a new snapshot is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSource {
    /// An image to pull; it needs a tag or digest other than `latest`.
    Image(String),
    /// A Dockerfile Daytona builds (sent as `buildInfo.dockerfileContent`).
    Dockerfile(String),
}

/// A snapshot to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSnapshotRequest {
    pub name: String,
    pub source: SnapshotSource,
    /// The image's entrypoint override; only with [`SnapshotSource::Image`].
    pub entrypoint: Option<Vec<String>>,
    pub resources: Resources,
}

impl DaytonaProvider {
    /// One snapshot by name or id.
    pub async fn get_snapshot(&self, name_or_id: &str) -> Result<Snapshot> {
        self.get_snapshot_record(name_or_id).await.map(snapshot)
    }

    /// Every snapshot the organisation may use, system snapshots included.
    pub async fn list_snapshots(&self) -> Result<Vec<Snapshot>> {
        let mut snapshots = Vec::new();
        let mut page = 1u64;
        loop {
            let mut url = self.http.api(&["snapshots"])?;
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("limit", "100");
            let answer: wire::PaginatedSnapshots = self
                .http
                .json("snapshot list", Repeat::Safe, |client| {
                    client.get(url.clone()).timeout(self.http.request_timeout())
                })
                .await?;
            let empty = answer.items.is_empty();
            snapshots.extend(answer.items.into_iter().map(snapshot));
            if empty || page >= answer.total_pages {
                return Ok(snapshots);
            }
            page += 1;
        }
    }

    /// Creates a snapshot and waits until it is `active`; `error` or `build_failed` fail with
    /// the server's reason.
    pub async fn create_snapshot(&self, request: &CreateSnapshotRequest) -> Result<Snapshot> {
        let deadline = Instant::now() + self.settings.snapshot_timeout;
        let (image_name, build_info) = match &request.source {
            SnapshotSource::Image(image) => (Some(image.clone()), None),
            SnapshotSource::Dockerfile(dockerfile) => (
                None,
                Some(wire::CreateBuildInfo {
                    dockerfile_content: dockerfile.clone(),
                    context_hashes: None,
                }),
            ),
        };
        let body = wire::CreateSnapshot {
            name: request.name.clone(),
            image_name,
            build_info,
            entrypoint: request.entrypoint.clone(),
            cpu: request.resources.cpu,
            memory: request.resources.memory,
            disk: request.resources.disk,
            ..Default::default()
        };
        let url = self.http.api(&["snapshots"])?;
        let what = format!("snapshot `{}`", request.name);
        let post = || {
            self.http
                .json::<wire::SnapshotDto>(&what, Repeat::Once, |client| {
                    client
                        .post(url.clone())
                        .json(&body)
                        .timeout(self.http.transition_timeout())
                })
        };
        let created = match post().await {
            Ok(record) => record,
            Err(error) if outcome_unknown(&error) => {
                match self.get_snapshot_record(&request.name).await {
                    Ok(record) => record,
                    Err(ProviderError::NotFound { .. }) => post().await?,
                    Err(other) => return Err(other),
                }
            }
            Err(error) => return Err(error),
        };
        self.wait_until_active(created, deadline).await
    }

    /// Deletes a snapshot by id, or by name (looked up first: the API takes only ids).
    pub async fn delete_snapshot(&self, name_or_id: &str) -> Result<()> {
        let id = match uuid::Uuid::parse_str(name_or_id) {
            Ok(_) => name_or_id.to_string(),
            Err(_) => self.get_snapshot_record(name_or_id).await?.id,
        };
        let url = self.http.api(&["snapshots", &id])?;
        self.http
            .send(
                &format!("snapshot `{name_or_id}`"),
                Repeat::Safe,
                |client| {
                    client
                        .delete(url.clone())
                        .timeout(self.http.request_timeout())
                },
            )
            .await?;
        Ok(())
    }

    async fn get_snapshot_record(&self, name_or_id: &str) -> Result<wire::SnapshotDto> {
        let url = self.http.api(&["snapshots", name_or_id])?;
        self.http
            .json(
                &format!("snapshot `{name_or_id}`"),
                Repeat::Safe,
                |client| client.get(url.clone()).timeout(self.http.request_timeout()),
            )
            .await
    }

    async fn wait_until_active(
        &self,
        mut record: wire::SnapshotDto,
        deadline: Instant,
    ) -> Result<Snapshot> {
        loop {
            match record.state {
                wire::SnapshotState::Active => return Ok(snapshot(record)),
                wire::SnapshotState::Error | wire::SnapshotState::BuildFailed => {
                    return Err(ProviderError::Api {
                        status: None,
                        message: format!(
                            "snapshot `{}` failed ({}): {}",
                            record.name,
                            record.state.as_str(),
                            record.error_reason.as_deref().unwrap_or("no reason given")
                        ),
                        retryable: false,
                    });
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProviderError::Timeout {
                    message: format!(
                        "snapshot `{}` is still `{}`",
                        record.name,
                        record.state.as_str()
                    ),
                });
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
            record = self.get_snapshot_record(&record.id).await?;
        }
    }
}

fn snapshot(record: wire::SnapshotDto) -> Snapshot {
    Snapshot {
        state: record.state.as_str().to_string(),
        id: record.id,
        name: record.name,
        image_name: record.image_name,
        error_reason: record.error_reason,
        general: record.general,
        resources: Resources {
            cpu: Some(record.cpu),
            memory: Some(record.mem),
            disk: Some(record.disk),
        },
    }
}
