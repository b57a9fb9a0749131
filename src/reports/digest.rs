//! "Since the last workshop" for people: one view of a [`Digest`] with its
//! figures already in words, written as Markdown here and as HTML by two
//! templates that share one body (`partials/digest_body.html`): the page,
//! and the self-contained download (`reports/digest.html`, inline CSS, no
//! script, nothing fetched).

use std::fmt::Write;

use askama::Template;

use super::markdown::escape;
use super::percent;
use crate::domain::coverage::{CoverageState, StateCounts};
use crate::domain::digest::{AcceptanceNote, ChangeGroup, Digest, FiguresDelta, StateChange, SystemDigest, describe};
use crate::domain::records::{Timestamp, format_timestamp};

/// A time as the digest prints it: `2026-11-12 14:03 UTC`.
pub fn time_text(at: Timestamp) -> String {
    let text = format_timestamp(at);
    let minutes = text.get(..16).unwrap_or(&text);
    format!("{} UTC", minutes.replacen('T', " ", 1))
}

/// A count before and after.
pub struct CountLine {
    pub label: String,
    pub before: String,
    pub after: String,
    /// "+3", "−2" or "" when unchanged.
    pub change: String,
}

fn signed(value: i64) -> String {
    match value {
        0 => String::new(),
        v if v > 0 => format!("+{v}"),
        v => format!("−{}", v.unsigned_abs()),
    }
}

/// The lines of a before/after table: the two percentages, then every state.
fn count_lines(delta: &FiguresDelta) -> Vec<CountLine> {
    let points = delta.coverage_points.map_or_else(String::new, |p| match p {
        p if p > 0.0 => format!("+{p:.1} points"),
        p if p < 0.0 => format!("−{:.1} points", -p),
        _ => String::new(),
    });
    let assessed = match (delta.before.assessed_percent, delta.after.assessed_percent) {
        (Some(b), Some(a)) if (a - b).abs() >= 0.05 => {
            if a > b {
                format!("+{:.1} points", a - b)
            } else {
                format!("−{:.1} points", b - a)
            }
        }
        _ => String::new(),
    };
    let mut lines = vec![
        CountLine {
            label: "Coverage".into(),
            before: percent(delta.before.coverage_percent),
            after: percent(delta.after.coverage_percent),
            change: points,
        },
        CountLine {
            label: "Assessed".into(),
            before: percent(delta.before.assessed_percent),
            after: percent(delta.after.assessed_percent),
            change: assessed,
        },
    ];
    for state in CoverageState::ALL {
        let (before, after) = (delta.before.counts.get(state), delta.after.counts.get(state));
        lines.push(CountLine {
            label: format!("{} {}", state.symbol(), state.label()),
            before: before.to_string(),
            after: after.to_string(),
            change: signed(after as i64 - before as i64),
        });
    }
    lines
}

fn open_gaps(counts: &StateCounts) -> usize {
    counts.open_gaps()
}

/// A tactic whose counts moved.
pub struct TacticLine {
    pub name: String,
    pub coverage_before: String,
    pub coverage_after: String,
    pub change: String,
    pub gaps_before: usize,
    pub gaps_after: usize,
}

/// A state as words with its symbol, or what its absence means.
fn state_text(state: Option<CoverageState>, absent: &str) -> String {
    state.map_or_else(|| absent.to_string(), |s| format!("{} {}", s.symbol(), s.label()))
}

pub struct GapLine {
    pub technique_id: String,
    pub name: String,
    pub before: String,
    pub after: String,
}

fn gap_lines(changes: &[StateChange]) -> Vec<GapLine> {
    changes
        .iter()
        .map(|c| GapLine {
            technique_id: c.technique_id.clone(),
            name: c.name.clone(),
            before: state_text(c.before, "not in the release"),
            after: state_text(c.after, "no longer in the release"),
        })
        .collect()
}

/// A risk acceptance added, renewed or run out.
pub struct AcceptanceLine {
    /// "added", "renewed" or "ran out".
    pub verb: &'static str,
    pub technique_id: String,
    pub name: String,
    pub last_day: String,
    pub accepted_by: String,
    /// Who recorded it and when ('' for one that ran out).
    pub recorded: String,
}

fn acceptance_line(note: &AcceptanceNote, verb: &'static str) -> AcceptanceLine {
    let recorded = match (&note.recorded_by, note.recorded_at) {
        (Some(by), Some(at)) => format!("{by}, {}", time_text(at)),
        _ => String::new(),
    };
    AcceptanceLine {
        verb,
        technique_id: note.technique_id.clone(),
        name: note.name.clone(),
        last_day: note.expires_on.clone(),
        accepted_by: note.accepted_by.clone(),
        recorded,
    }
}

pub struct ChangeLine {
    pub at: String,
    pub actor: String,
    pub what: String,
    pub summary: String,
    /// "bulk", "import" and the like: part of a change of many items.
    pub in_batch: bool,
}

pub struct GroupView {
    pub title: String,
    pub kind: String,
    pub changes: Vec<ChangeLine>,
}

fn group_views(groups: &[ChangeGroup]) -> Vec<GroupView> {
    groups
        .iter()
        .map(|g| GroupView {
            title: g.title.clone(),
            kind: g.kind.clone(),
            changes: g
                .changes
                .iter()
                .map(|c| ChangeLine {
                    at: time_text(c.at),
                    actor: c.actor.clone(),
                    what: c.what.clone(),
                    summary: c.summary.clone(),
                    in_batch: c.batch.is_some(),
                })
                .collect(),
        })
        .collect()
}

/// One system's part, in words.
pub struct SystemPart {
    pub id: i64,
    pub name: String,
    pub release: String,
    pub created_in_period: bool,
    pub counts: Vec<CountLine>,
    pub unchanged: bool,
    pub tactics: Vec<TacticLine>,
    pub new_gaps: Vec<GapLine>,
    pub closed_gaps: Vec<GapLine>,
    pub acceptances_added: Vec<AcceptanceLine>,
    pub acceptances_expired: Vec<AcceptanceLine>,
    pub upgrades: Vec<String>,
    pub groups: Vec<GroupView>,
    pub change_count: usize,
    pub not_listed: usize,
}

fn system_part(system: &SystemDigest) -> SystemPart {
    let release = match &system.release_before {
        Some(before) if *before != system.release_after => format!("ATLAS {before} → {}", system.release_after),
        _ => format!("ATLAS {}", system.release_after),
    };
    let tactics = system
        .tactics
        .iter()
        .filter(|t| !t.delta.is_unchanged())
        .map(|t| TacticLine {
            name: t.name.clone(),
            coverage_before: percent(t.delta.before.coverage_percent),
            coverage_after: percent(t.delta.after.coverage_percent),
            change: count_lines(&t.delta).swap_remove(0).change,
            gaps_before: open_gaps(&t.delta.before.counts),
            gaps_after: open_gaps(&t.delta.after.counts),
        })
        .collect();
    SystemPart {
        id: system.system_id,
        name: system.system_name.clone(),
        release,
        created_in_period: system.release_before.is_none(),
        counts: count_lines(&system.overall),
        unchanged: system.overall.is_unchanged(),
        tactics,
        new_gaps: gap_lines(&system.new_gaps),
        closed_gaps: gap_lines(&system.closed_gaps),
        acceptances_added: system
            .acceptances_added
            .iter()
            .map(|a| acceptance_line(a, if a.renewed { "renewed" } else { "added" }))
            .collect(),
        acceptances_expired: system.acceptances_expired.iter().map(|a| acceptance_line(a, "ran out")).collect(),
        upgrades: system
            .upgrades
            .iter()
            .map(|u| format!("{} → {} by {}, {}", u.from_release, u.to_release, u.actor, time_text(u.at)))
            .collect(),
        groups: group_views(&system.groups),
        change_count: system.change_count,
        not_listed: system.changes_not_listed,
    }
}

/// A digest in words: what the page, the HTML and the Markdown show.
pub struct DigestView {
    pub title: String,
    pub team_id: i64,
    pub team_name: String,
    /// Set for a system's digest.
    pub system_id: Option<i64>,
    pub from: String,
    pub to: String,
    pub summary: String,
    pub counts: Vec<CountLine>,
    pub systems: Vec<SystemPart>,
    pub team_groups: Vec<GroupView>,
    pub team_not_listed: usize,
}

impl DigestView {
    pub fn new(digest: &Digest) -> DigestView {
        let people =
            digest.people.iter().map(|p| format!("{} ({})", p.actor, p.changes)).collect::<Vec<_>>().join(", ");
        let summary = match digest.change_count {
            0 => "No changes were recorded in this period.".to_string(),
            1 => format!("1 change, by {people}."),
            n => format!(
                "{n} changes by {} {}: {people}.",
                digest.people.len(),
                plural(digest.people.len(), "person", "people")
            ),
        };
        DigestView {
            title: digest.title(),
            team_id: digest.team_id,
            team_name: digest.team_name.clone(),
            system_id: digest.system_id,
            from: describe(&digest.from),
            to: describe(&digest.to),
            summary,
            counts: count_lines(&digest.overall),
            systems: digest.systems.iter().map(system_part).collect(),
            team_groups: group_views(&digest.team_changes),
            team_not_listed: digest.team_changes_not_listed,
        }
    }

    /// True for a team's digest (a section per system).
    pub fn is_team(&self) -> bool {
        self.system_id.is_none()
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[derive(Template)]
#[template(path = "reports/digest.html")]
struct DigestHtml<'a> {
    view: &'a DigestView,
}

/// The digest as one self-contained HTML file.
pub fn html(digest: &Digest) -> Result<String, askama::Error> {
    DigestHtml { view: &DigestView::new(digest) }.render()
}

fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn counts_table(out: &mut String, counts: &[CountLine]) {
    table(
        out,
        &["", "Before", "After", "Change"],
        counts.iter().map(|c| vec![escape(&c.label), c.before.clone(), c.after.clone(), c.change.clone()]),
    );
}

fn groups_markdown(out: &mut String, groups: &[GroupView], heading: &str) {
    for group in groups {
        let _ = writeln!(out, "{heading} {}\n", escape(&group.title));
        table(
            out,
            &["When", "Who", "What", "Change"],
            group.changes.iter().map(|c| {
                let what = if c.in_batch { format!("{} (bulk)", c.what) } else { c.what.clone() };
                vec![c.at.clone(), escape(&c.actor), escape(&what), escape(&c.summary)]
            }),
        );
    }
}

/// The digest as CommonMark with GitHub tables; user text escaped.
pub fn markdown(digest: &Digest) -> String {
    let view = DigestView::new(digest);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape(&view.title));
    let _ = writeln!(out, "Team {}. From {} to {}.\n", escape(&view.team_name), escape(&view.from), escape(&view.to));
    let _ = writeln!(out, "{}\n", escape(&view.summary));
    if view.is_team() {
        out.push_str("## Coverage of the team\n\n");
        counts_table(&mut out, &view.counts);
    }
    let (h2, h3) = ("##", "###");
    for system in &view.systems {
        if view.is_team() {
            let _ = writeln!(out, "{h2} {}\n", escape(&system.name));
        }
        let created = if system.created_in_period { "; created in this period" } else { "" };
        let _ = writeln!(out, "{}{created}. {} changes.\n", escape(&system.release), system.change_count);
        let _ = writeln!(out, "{h3} Coverage\n");
        counts_table(&mut out, &system.counts);
        if !system.tactics.is_empty() {
            let _ = writeln!(out, "{h3} Tactics whose coverage moved\n");
            table(
                &mut out,
                &["Tactic", "Coverage before", "After", "Change", "Open gaps before → after"],
                system.tactics.iter().map(|t| {
                    vec![
                        escape(&t.name),
                        t.coverage_before.clone(),
                        t.coverage_after.clone(),
                        t.change.clone(),
                        format!("{} → {}", t.gaps_before, t.gaps_after),
                    ]
                }),
            );
        }
        for (heading, lines) in [("New gaps", &system.new_gaps), ("Closed gaps", &system.closed_gaps)] {
            let _ = writeln!(out, "{h3} {heading}\n");
            if lines.is_empty() {
                out.push_str("None.\n\n");
                continue;
            }
            table(
                &mut out,
                &["Technique", "Before", "After"],
                lines.iter().map(|g| {
                    vec![format!("{} {}", g.technique_id, escape(&g.name)), escape(&g.before), escape(&g.after)]
                }),
            );
        }
        let _ = writeln!(out, "{h3} Risk acceptances\n");
        if system.acceptances_added.is_empty() && system.acceptances_expired.is_empty() {
            out.push_str("None added, none ran out.\n\n");
        }
        for a in system.acceptances_added.iter().chain(&system.acceptances_expired) {
            let recorded =
                if a.recorded.is_empty() { String::new() } else { format!(", recorded by {}", escape(&a.recorded)) };
            let _ = writeln!(
                out,
                "- {}: {} {}, through {}, accepted by {}{recorded}",
                a.verb,
                a.technique_id,
                escape(&a.name),
                a.last_day,
                escape(&a.accepted_by)
            );
        }
        if !(system.acceptances_added.is_empty() && system.acceptances_expired.is_empty()) {
            out.push('\n');
        }
        if !system.upgrades.is_empty() {
            let _ = writeln!(out, "{h3} Release upgrades\n");
            for upgrade in &system.upgrades {
                let _ = writeln!(out, "- {}", escape(upgrade));
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{h3} Changes by technique\n");
        if system.groups.is_empty() {
            out.push_str("None.\n\n");
        }
        groups_markdown(&mut out, &system.groups, &format!("{h3}#"));
        if system.not_listed > 0 {
            let _ = writeln!(out, "And {} later changes not listed here.\n", system.not_listed);
        }
    }
    if !view.team_groups.is_empty() {
        let _ = writeln!(out, "{h2} Control definitions of the team\n");
        groups_markdown(&mut out, &view.team_groups, h3);
        if view.team_not_listed > 0 {
            let _ = writeln!(out, "And {} later changes not listed here.\n", view.team_not_listed);
        }
    }
    out
}
