//! Temporary sandboxes: made by preflight and run, deleted on every way out.
//!
//! The happy and failing paths delete explicitly (and report the outcome). A future dropped
//! half-way (an MCP request cancelled, a task aborted) deletes from `Drop` on the runtime, since
//! nothing is left to await it. An interrupt is the caller's future: the operations race it
//! against their work and delete before they return.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::provider::{CreateSandbox, Provider, ProviderError, Sandbox};

/// Attempts at deleting a sandbox that is busy changing state (Daytona answers 409 then).
const DELETE_ATTEMPTS: u32 = 5;
const DELETE_PAUSE: Duration = Duration::from_secs(1);

/// The caller's interrupt (Ctrl-C); `std::future::pending()` when there is none.
pub(crate) type Interrupt<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A sandbox that is deleted unless [`Temporary::keep`] says otherwise.
pub(crate) struct Temporary {
    provider: Arc<dyn Provider>,
    id: Option<String>,
}

/// What became of a temporary sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cleanup {
    Kept,
    Deleted,
    Failed(String),
}

impl Cleanup {
    /// A tail for a message: `; sandbox `x` deleted`.
    pub(crate) fn sentence(&self, id: &str) -> String {
        match self {
            Cleanup::Kept => format!("; sandbox `{id}` kept"),
            Cleanup::Deleted => format!("; sandbox `{id}` deleted"),
            Cleanup::Failed(error) => {
                format!(
                    "; sandbox `{id}` could not be deleted ({error}): delete it with `ralph-town sandbox delete {id}`"
                )
            }
        }
    }
}

impl Temporary {
    /// Creates a sandbox. An interrupt during the create lets the create finish (its id is not
    /// known before) and then deletes it; the result is then `Err(None)`.
    pub(crate) async fn create(
        provider: &Arc<dyn Provider>,
        request: &CreateSandbox,
        interrupt: &mut Interrupt<'_>,
    ) -> Result<(Temporary, Sandbox), Option<ProviderError>> {
        let create = provider.create(request);
        tokio::pin!(create);
        let (created, interrupted) = tokio::select! {
            created = &mut create => (created, false),
            () = interrupt.as_mut() => (create.await, true),
        };
        let sandbox = created.map_err(Some)?;
        let temporary = Temporary {
            provider: provider.clone(),
            id: Some(sandbox.id.clone()),
        };
        if interrupted {
            temporary.finish(false).await;
            return Err(None);
        }
        Ok((temporary, sandbox))
    }

    /// Deletes the sandbox, or keeps it when `keep`.
    pub(crate) async fn finish(mut self, keep: bool) -> Cleanup {
        let Some(id) = self.id.take() else {
            return Cleanup::Kept;
        };
        if keep {
            return Cleanup::Kept;
        }
        match delete_patiently(self.provider.as_ref(), &id).await {
            Ok(()) => Cleanup::Deleted,
            Err(error) => Cleanup::Failed(error.to_string()),
        }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let provider = self.provider.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = delete_patiently(provider.as_ref(), &id).await;
            });
        }
    }
}

/// Deletes a sandbox, waiting out a state change in progress; one already gone counts as
/// deleted.
pub(crate) async fn delete_patiently(
    provider: &dyn Provider,
    id: &str,
) -> Result<(), ProviderError> {
    let mut attempt = 1;
    loop {
        match provider.delete(id).await {
            Ok(()) | Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(ProviderError::Conflict { .. } | ProviderError::Transport { .. })
                if attempt < DELETE_ATTEMPTS =>
            {
                attempt += 1;
                tokio::time::sleep(DELETE_PAUSE).await;
            }
            Err(error) => return Err(error),
        }
    }
}
