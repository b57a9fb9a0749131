//! Gap analysis: which applicable techniques a system leaves open, ranked by
//! a documented priority; the same across several systems (a team's
//! portfolio, with a systems × tactics heat map); which ATLAS mitigations and
//! team controls would close the most weighted gap (greedy recommendations);
//! and which ATLAS case studies a system leaves exposed. Pure: callers pass
//! the release, the decisions and the day; states come from [`coverage`].
//!
//! # Gaps
//!
//! A gap is a technique in state *gap*, *gap without known mitigation* or
//! *partially covered* ([`CoverageState::is_gap`]): it applies, nothing
//! implemented covers it and no running risk acceptance holds it. Gaps
//! neither prevented nor detected ([`crate::domain::coverage::CombinedState::Neither`]) rank first,
//! whatever their priority; the rest follow, each group by priority.
//!
//! # Priority
//!
//! A gap's priority is a product of factors, roughly likelihood × impact:
//!
//! ```text
//! priority = maturity × evidence × exposure × criticality × risk × state × detection
//! evidence = 1 + per_case_study × min(case studies using the technique, case_study_cap)
//! ```
//!
//! Default weights ([`PriorityWeights::default`]):
//!
//! | factor | level → weight |
//! |---|---|
//! | maturity (ATLAS) | realized 3 · demonstrated 2 · feasible 1 · not graded 2 (the middle grade) |
//! | evidence | + 0.125 per ATLAS case study using the technique, counted up to 8 (so 1 to 2) |
//! | exposure (system) | public 3 · partner 2 · internal 1 |
//! | criticality (system) | critical 4 · high 3 · medium 2 · low 1 |
//! | risk (team's rating of the technique) | critical 4 · high 3 · medium 2 · low 1 · not rated 2 (as medium) |
//! | state | gap or gap without known mitigation 1 · partially covered 0.5 |
//! | detection (SOC) | not detected or planned 1 · partly detected 0.75 · detected 0.5 |
//!
//! Every default is a small binary fraction, so scores are exact and ties are
//! real ties. Ties rank in input order: systems as given, then techniques in
//! the release's ID order.
//!
//! # Recommendations
//!
//! Candidates are every ATLAS mitigation and every team control, on each
//! selected system where it is not already `implemented` or marked
//! `not_applicable`, and every team detection on each system where a
//! technique it maps to is not yet detected. Deploying a detection marks
//! its techniques detected: a gap stays open, but its weight drops to the
//! detected factor, and that drop is the detection's gain. Implementing a candidate sets its status to
//! `implemented` on those systems; by the coverage rules each applicable
//! technique it maps to becomes covered (accepted risks included, which moves
//! the coverage percentage too). The gain of a candidate is the summed
//! priority of the open gaps it would close. The greedy loop picks the
//! largest gain (ties: more gaps closed, then ATLAS mitigations before
//! controls, then by ID), applies it, recomputes the states with
//! [`coverage::technique_state`], and ranks the rest again. It stops after
//! `limit` steps or when no candidate closes anything.
//!
//! # Case-study lens
//!
//! A procedure step is *covered* when its technique is covered on the
//! system, *accepted* when it is an accepted risk, *not applicable* when the
//! team marked the technique not applicable, and *exposed* otherwise (a gap,
//! partially covered, or not assessed: nothing shows the system resists it).
//! A case study whose steps are all exposed is one the system leaves
//! entirely uncovered; those are listed incidents first, then exercises.

mod analysis;
mod case_studies;
mod priority;
mod recommend;
#[cfg(test)]
pub(crate) mod tests;

pub use analysis::*;
pub use case_studies::*;
pub use priority::*;
pub use recommend::*;
