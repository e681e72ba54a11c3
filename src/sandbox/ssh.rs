//! SSH access a user asks for (`ralph-town sandbox ssh`, the MCP `sandbox_ssh` tool): a token and
//! command on Daytona, or the command that opens a shell in a `local` sandbox.

use std::sync::Arc;

use super::Result;
use crate::provider::{Provider, ShellAccess};

/// Issues SSH access valid for `expires_in_minutes` (Daytona; a new token revokes the
/// sandbox's earlier ones), or says how to open a shell in a `local` sandbox.
pub(crate) async fn ssh_access(
    provider: &Arc<dyn Provider>,
    id: &str,
    expires_in_minutes: u32,
) -> Result<ShellAccess> {
    Ok(provider.shell_access(id, None, expires_in_minutes).await?)
}
