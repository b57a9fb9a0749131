//! `upgrade`: moving a system's map, or every system of a team, to another
//! ATLAS release from the command line, through the same service as the API.

use anyhow::Context;

use super::{local_core, print_out};

/// `upgrade`: previews or applies moving a system, or a team's systems, to
/// another release, through the same service as the API.
pub(super) async fn upgrade(
    store: &crate::db::Location,
    system: Option<&str>,
    team: Option<&str>,
    to: String,
    successors: &[String],
    apply: bool,
) -> anyhow::Result<()> {
    let mut chosen = std::collections::BTreeMap::new();
    for pair in successors {
        let (old, new) = pair
            .split_once('=')
            .with_context(|| format!("--successor: `{pair}` is not OLD=NEW (for example AML.T0019=AML.T0115.000)"))?;
        chosen.insert(old.trim().to_string(), new.trim().to_string());
    }
    let request = crate::service::upgrade::UpgradeRequest { to, successors: chosen, apply };
    let core = local_core(store).await?;
    let actor = crate::service::Actor("command line".into());
    let outcomes = match (system, team) {
        (Some(system), _) => {
            let found = crate::service::systems::find(&core, system).await?;
            vec![(found.name, crate::service::upgrade::upgrade(&core, found.id, &request, &actor).await?)]
        }
        (None, Some(team)) => {
            let teams = crate::service::teams::list(&core).await?;
            let found = teams
                .iter()
                .find(|t| t.id.to_string() == team || t.name.eq_ignore_ascii_case(team))
                .with_context(|| format!("no team has the ID or name `{team}`"))?;
            let outcome = crate::service::upgrade::upgrade_team(&core, found.id, &request, &actor).await?;
            for skipped in &outcome.skipped {
                println!("{}: left as it is ({})", skipped.name, skipped.reason);
            }
            let names = crate::service::systems::list(&core, Some(found.id)).await?;
            outcome
                .systems
                .into_iter()
                .map(|o| {
                    let name = names.iter().find(|s| s.id == o.plan.system_id).map(|s| s.name.clone());
                    (name.unwrap_or_default(), o)
                })
                .collect()
        }
        (None, None) => anyhow::bail!("name a --system or a --team"),
    };
    for (name, outcome) in outcomes {
        print_out(&describe_upgrade(&name, &outcome));
    }
    if !apply {
        println!("This was a preview; add --apply to upgrade.");
    }
    core.relay.flush().await;
    Ok(())
}

fn describe_upgrade(name: &str, outcome: &crate::service::upgrade::UpgradeOutcome) -> String {
    use std::fmt::Write;
    let plan = &outcome.plan;
    let percent = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}%"));
    let mut out = String::new();
    let verb = if outcome.applied { "Upgraded" } else { "Upgrading" };
    let _ = writeln!(out, "{verb} {name} from ATLAS {} to {}", plan.from, plan.to);
    let _ = writeln!(
        out,
        "  coverage {} -> {}; {} carried, {} for review, {} retired, {} reused, {} new",
        percent(plan.coverage_before.coverage_percent),
        percent(plan.coverage_after.coverage_percent),
        plan.carried.len(),
        plan.review.len(),
        plan.retired.len(),
        plan.reused.len(),
        plan.added.len()
    );
    for item in &plan.review {
        let _ = writeln!(out, "  review {} {}: {}", item.technique_id, item.name, item.reasons.join("; "));
    }
    for item in &plan.retired {
        match (&item.successor, &item.reason) {
            (Some(to), reason) => {
                let why = reason.as_deref().unwrap_or("");
                let _ = writeln!(out, "  retired {} {}: decisions go to {to} ({why})", item.technique_id, item.name);
            }
            (None, _) => {
                let _ =
                    writeln!(out, "  retired {} {}: no successor; kept in the history", item.technique_id, item.name);
            }
        }
    }
    for item in &plan.reused {
        let _ = writeln!(
            out,
            "  reused {}: {} -> {}; the old decision is not carried",
            item.technique_id, item.old_name, item.new_name
        );
    }
    if let Some(batch) = outcome.batch {
        let _ = writeln!(out, "  undo: history entry {batch}");
    }
    out
}
