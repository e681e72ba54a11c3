//! What a sandbox create may ask for that no local sandbox can be: a GPU, KVM, or an OS user
//! other than `daytona` and `root`. Each is refused before anything is made, with the status
//! Daytona gives (a GPU: its 400s, as in a region without GPU quota) or a 422 saying why it is
//! not possible here, rather than recorded and then not given. It must not refuse what a local
//! sandbox does give: the `daytona` or `root` user named outright (a root sandbox also needs
//! bubblewrap, which the provider knows and refuses with the same 422 without it), `kvm:
//! false`, `gpu: 0`. It also says which user a create asks the provider for.

use super::build_context::image_user;
use super::error::ApiError;
use super::snapshot;
use super::state::AppState;
use crate::daytona_api::CreateSandbox;
use crate::provider::local::{POSSIBLE_USERS, SandboxUser};

/// Refuses a create asking for what a local sandbox cannot be; `gpu` is what the sandbox would
/// get (from its snapshot, or asked for with a build).
pub(crate) fn refuse_impossible(request: &CreateSandbox, gpu: u32) -> Result<(), ApiError> {
    if gpu > 0 {
        // Daytona's order: a GPU sandbox must be ephemeral before its quota is looked at.
        if request.auto_delete_interval != Some(0) {
            return Err(ApiError::bad_request(
                "GPU sandboxes must be ephemeral - set autoDeleteInterval to 0",
            ));
        }
        return Err(ApiError::bad_request(
            "Total GPU limit exceeded. Maximum allowed: 0.\nLocal sandboxes have no GPU: create one without `gpu`",
        ));
    }
    if request.kvm == Some(true) {
        return Err(ApiError::not_possible(
            "KVM is not possible with local sandboxes: they get no `/dev/kvm`; create one without `kvm`",
        ));
    }
    match request.user.as_deref().map(str::trim) {
        None | Some("") => Ok(()),
        Some(user) if SandboxUser::parse(user).is_some() => Ok(()),
        Some(user) => Err(ApiError::not_possible(format!(
            "Sandbox user `{user}` is not possible with local sandboxes: they run as {POSSIBLE_USERS}; leave `user` out or set it to one of those"
        ))),
    }
}

/// The user a create asks the provider for: its own `user`, else the one its image's final
/// `USER` names (`buildInfo`, or the named snapshot's build), as on Daytona. `None` leaves it
/// to the provider: `daytona`, or the user of the sandbox a snapshot was taken from.
pub(crate) fn asked_user(state: &AppState, request: &CreateSandbox) -> Option<String> {
    if let Some(user) = request
        .user
        .as_deref()
        .map(str::trim)
        .filter(|user| !user.is_empty())
    {
        return Some(user.to_string());
    }
    let dockerfile = match &request.build_info {
        Some(build) => Some(build.dockerfile_content.clone()),
        None => {
            snapshot::resolve_for_sandbox(state, request.snapshot.as_deref())
                .ok()?
                .build_info?
                .dockerfile_content
        }
    };
    image_user(&dockerfile?).map(|user| user.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn request(json: serde_json::Value) -> CreateSandbox {
        serde_json::from_value(json).expect("a create request")
    }

    #[test]
    fn what_a_local_sandbox_gives_passes() {
        for body in [
            serde_json::json!({}),
            serde_json::json!({"user": "daytona", "kvm": false, "gpu": 0}),
            serde_json::json!({"user": ""}),
            serde_json::json!({"user": " root "}),
        ] {
            assert!(
                refuse_impossible(&request(body.clone()), 0).is_ok(),
                "{body}"
            );
        }
    }

    #[test]
    fn a_gpu_is_refused_as_daytona_refuses_it_without_gpu_quota() {
        let kept = refuse_impossible(&request(serde_json::json!({})), 1).unwrap_err();
        assert_eq!(kept.status, StatusCode::BAD_REQUEST);
        assert!(kept.message.starts_with("GPU sandboxes must be ephemeral"));
        let ephemeral = request(serde_json::json!({"autoDeleteInterval": 0}));
        let error = refuse_impossible(&ephemeral, 1).unwrap_err();
        assert!(
            error
                .message
                .starts_with("Total GPU limit exceeded. Maximum allowed: 0.")
        );
    }

    #[test]
    fn kvm_and_another_user_are_not_possible() {
        for body in [
            serde_json::json!({"kvm": true}),
            serde_json::json!({"user": "nobody2"}),
            serde_json::json!({"user": "1001"}),
        ] {
            let error = refuse_impossible(&request(body.clone()), 0).unwrap_err();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
        let error =
            refuse_impossible(&request(serde_json::json!({"user": "nobody2"})), 0).unwrap_err();
        assert!(
            error.message.contains("`nobody2`")
                && error.message.contains("`daytona`")
                && error.message.contains("`root`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn root_is_a_user_a_local_sandbox_can_be() {
        for body in [
            serde_json::json!({"user": "root"}),
            serde_json::json!({"user": "0"}),
            serde_json::json!({"user": "1000"}),
        ] {
            assert!(
                refuse_impossible(&request(body.clone()), 0).is_ok(),
                "{body}"
            );
        }
    }
}
