//! `detections`: importing a team's Sigma rules (a preview unless
//! `--apply`) and listing its detections, through the same service as the
//! pages and the API.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{display_name, local_core, print_out};
use crate::domain::detection_import::{ImportPlan, RuleAction};
use crate::sigma::{self, RuleFile};

#[derive(Debug, Subcommand)]
pub enum DetectionsCommand {
    /// Import Sigma rules (rule files, multi-document YAML files or zips of them):
    /// prints what would change; --apply imports it as one change that can be undone
    Import {
        /// The team: its ID or its name
        #[arg(long, value_name = "NAME-or-ID")]
        team: String,
        /// Rule files (.yml, .yaml) or zips of them
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Import (without it, only the preview is printed)
        #[arg(long)]
        apply: bool,
    },
    /// List the team's detections and the techniques each maps to
    List {
        /// The team: its ID or its name
        #[arg(long, value_name = "NAME-or-ID")]
        team: String,
    },
}

pub(super) async fn run(store: &crate::db::Location, command: DetectionsCommand) -> anyhow::Result<()> {
    let core = local_core(store).await?;
    let team_of = |wanted: String| {
        let core = &core;
        async move {
            let teams = crate::service::teams::list(core).await?;
            teams
                .into_iter()
                .find(|t| t.id.to_string() == wanted || t.name.eq_ignore_ascii_case(&wanted))
                .with_context(|| format!("no team has the ID or name `{wanted}`"))
        }
    };
    match command {
        DetectionsCommand::Import { team, files, apply } => {
            let team = team_of(team).await?;
            let files = read_files(&files)?;
            let actor = crate::service::Actor("command line".into());
            if apply {
                let applied = crate::service::detections::apply_import(&core, team.id, files, &actor).await?;
                print_out(&describe(&applied.plan));
                match applied.history_id {
                    Some(entry) => {
                        println!("Imported into {}; undo: change {entry} on the Detections page.", team.name)
                    }
                    None => println!("Nothing changed: every usable rule already matches its detection."),
                }
            } else {
                let plan = crate::service::detections::preview_import(&core, team.id, files).await?;
                print_out(&describe(&plan));
                println!("This was a preview; add --apply to import.");
            }
        }
        DetectionsCommand::List { team } => {
            let team = team_of(team).await?;
            let mut out = String::new();
            for detection in crate::service::detections::list(&core, team.id).await? {
                let rule = detection.rule_id.as_deref().map(|r| format!(" [rule {r}]")).unwrap_or_default();
                let _ = writeln!(out, "{}{rule}: {}", detection.name, detection.techniques.join(", "));
            }
            print_out(&out);
        }
    }
    core.relay.flush().await;
    Ok(())
}

fn read_files(paths: &[PathBuf]) -> anyhow::Result<Vec<RuleFile>> {
    let mut total = 0u64;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
        total += size;
        if total > sigma::MAX_UPLOAD_BYTES as u64 {
            anyhow::bail!("the files are larger than the import limit of {} bytes in all", sigma::MAX_UPLOAD_BYTES);
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push(RuleFile { name: display_name(path), bytes });
    }
    Ok(files)
}

/// The preview as lines: a summary, then what happens to each rule and what was left out.
fn describe(plan: &ImportPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Read {} rule(s) from {} file(s) against ATLAS {}: {} new, {} updated, {} unchanged",
        plan.rules_read, plan.files, plan.release, plan.creates, plan.updates, plan.unchanged
    );
    for rule in &plan.rules {
        let action = match rule.action {
            RuleAction::Create => "new",
            RuleAction::Update => "update",
            RuleAction::Unchanged => "unchanged",
        };
        let _ = writeln!(out, "  {action} {} ({}): {}", rule.title, rule.at, rule.technique_ids.join(", "));
        for warning in &rule.warnings {
            let _ = writeln!(out, "    warning: {warning}");
        }
    }
    for rule in &plan.unmapped {
        let _ = writeln!(out, "  left out {} ({}): {}", rule.title, rule.at, rule.reason);
    }
    for id in &plan.retired_ids {
        let successor = id.successor.as_deref().map(|s| format!("; ATLAS proposes {s}")).unwrap_or_default();
        let _ = writeln!(out, "  retired {} in rule {} ({}){successor}", id.technique_id, id.rule_id, id.at);
    }
    for id in &plan.unknown_ids {
        let _ = writeln!(out, "  unknown {} in rule {} ({})", id.technique_id, id.rule_id, id.at);
    }
    for skipped in &plan.skipped {
        let _ = writeln!(out, "  skipped {}: {}", skipped.at, skipped.reason);
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    out
}
