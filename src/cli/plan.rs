//! `ralph-town plan`: observe and print what `up` would change, or with `--destroy` what `down`
//! would remove.

use std::collections::BTreeSet;

use super::args::{PlanArgs, PlanFlags};
use super::{load_team, out, print_json, provider_to_read};
use crate::error::{Result, exit};
use crate::plan::PlanOptions;
use crate::workflow;

pub(super) async fn run(args: &PlanArgs) -> Result<i32> {
    let team = load_team(&args.file.file, false)?;
    let provider = provider_to_read(team.provider, Some(&team))?;
    let plan = if args.destroy {
        workflow::prepare_down(
            provider.as_ref(),
            &team.name,
            Some(&team),
            None,
            args.plan.adopt,
        )
        .await?
        .plan
    } else {
        workflow::plan(provider.as_ref(), &team, &plan_options(&args.plan)).await?
    };
    if args.json {
        print_json(&plan)?;
    } else {
        out(&plan.render())?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    })
}

/// The planner's options from the shared flags.
pub(super) fn plan_options(flags: &PlanFlags) -> PlanOptions {
    PlanOptions {
        prune: flags.prune,
        force_recreate: flags.force_recreate,
        only: (!flags.only.is_empty()).then(|| flags.only.iter().cloned().collect::<BTreeSet<_>>()),
        adopt: flags.adopt,
    }
}
