//! One loaded release, indexed by ID for constant-time lookups and with the
//! derived relations (sub-techniques, mitigations and case studies per
//! technique) computed once at load.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::model::{CaseStudy, Mitigation, Release, Tactic, Technique};

/// Where a loaded release came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// The facts shipped in `atlas-data/`, with the project's own summaries.
    Bundled,
    /// An official file imported by a user; stored in the database.
    Imported {
        #[serde(with = "time::serde::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        imported_at: time::OffsetDateTime,
        file: String,
    },
}

/// Object counts of a release, as reported by the CLI and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    pub tactics: usize,
    pub techniques: usize,
    pub subtechniques: usize,
    pub mitigations: usize,
    pub case_studies: usize,
    pub procedure_steps: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tactics, {} techniques + {} sub-techniques, {} mitigations, {} case studies, {} procedure steps",
            self.tactics,
            self.techniques,
            self.subtechniques,
            self.mitigations,
            self.case_studies,
            self.procedure_steps
        )
    }
}

#[derive(Debug)]
pub struct Framework {
    pub release: Release,
    pub origin: Origin,
    tactic_index: HashMap<String, usize>,
    technique_index: HashMap<String, usize>,
    mitigation_index: HashMap<String, usize>,
    case_study_index: HashMap<String, usize>,
    /// Sub-technique indices per parent technique, in ID order.
    children: HashMap<String, Vec<usize>>,
    /// Top-level technique indices per tactic position, sorted by name.
    columns: Vec<Vec<usize>>,
    mitigations_by_technique: HashMap<String, Vec<usize>>,
    case_studies_by_technique: HashMap<String, Vec<usize>>,
    counts: Counts,
}

impl Framework {
    pub fn new(release: Release, origin: Origin) -> Self {
        let index = |ids: Vec<&String>| ids.into_iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        let tactic_index: HashMap<String, usize> = index(release.tactics.iter().map(|t| &t.id).collect());
        let technique_index: HashMap<String, usize> = index(release.techniques.iter().map(|t| &t.id).collect());
        let mitigation_index = index(release.mitigations.iter().map(|m| &m.id).collect());
        let case_study_index = index(release.case_studies.iter().map(|c| &c.id).collect());

        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        let mut columns = vec![Vec::new(); release.tactics.len()];
        for (i, technique) in release.techniques.iter().enumerate() {
            match &technique.parent {
                Some(parent) => children.entry(parent.clone()).or_default().push(i),
                None => {
                    for tactic in &technique.tactics {
                        if let Some(&column) = tactic_index.get(tactic) {
                            columns[column].push(i);
                        }
                    }
                }
            }
        }
        for column in &mut columns {
            column.sort_by(|&a, &b| release.techniques[a].name.cmp(&release.techniques[b].name));
        }

        let mut mitigations_by_technique: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, mitigation) in release.mitigations.iter().enumerate() {
            for link in &mitigation.techniques {
                mitigations_by_technique.entry(link.technique.clone()).or_default().push(i);
            }
        }
        let mut case_studies_by_technique: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, case_study) in release.case_studies.iter().enumerate() {
            for step in &case_study.steps {
                let studies = case_studies_by_technique.entry(step.technique.clone()).or_default();
                if studies.last() != Some(&i) && !studies.contains(&i) {
                    studies.push(i);
                }
            }
        }

        let subtechniques = release.techniques.iter().filter(|t| t.parent.is_some()).count();
        let counts = Counts {
            tactics: release.tactics.len(),
            techniques: release.techniques.len() - subtechniques,
            subtechniques,
            mitigations: release.mitigations.len(),
            case_studies: release.case_studies.len(),
            procedure_steps: release.case_studies.iter().map(|c| c.steps.len()).sum(),
        };

        Framework {
            release,
            origin,
            tactic_index,
            technique_index,
            mitigation_index,
            case_study_index,
            children,
            columns,
            mitigations_by_technique,
            case_studies_by_technique,
            counts,
        }
    }

    pub fn version(&self) -> &str {
        &self.release.version
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn tactics(&self) -> &[Tactic] {
        &self.release.tactics
    }

    pub fn techniques(&self) -> &[Technique] {
        &self.release.techniques
    }

    pub fn mitigations(&self) -> &[Mitigation] {
        &self.release.mitigations
    }

    pub fn case_studies(&self) -> &[CaseStudy] {
        &self.release.case_studies
    }

    pub fn tactic(&self, id: &str) -> Option<&Tactic> {
        self.tactic_index.get(id).map(|&i| &self.release.tactics[i])
    }

    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.technique_index.get(id).map(|&i| &self.release.techniques[i])
    }

    /// A technique's name as people need it out of context: a sub-technique
    /// is named with its parent ("Phishing: Spearphishing via Social
    /// Engineering LLM").
    pub fn full_name(&self, technique: &Technique) -> String {
        match technique.parent.as_deref().and_then(|p| self.technique(p)) {
            Some(parent) => format!("{}: {}", parent.name, technique.name),
            None => technique.name.clone(),
        }
    }

    pub fn mitigation(&self, id: &str) -> Option<&Mitigation> {
        self.mitigation_index.get(id).map(|&i| &self.release.mitigations[i])
    }

    pub fn case_study(&self, id: &str) -> Option<&CaseStudy> {
        self.case_study_index.get(id).map(|&i| &self.release.case_studies[i])
    }

    /// Position of a tactic in the matrix (0-based).
    pub fn tactic_position(&self, id: &str) -> Option<usize> {
        self.tactic_index.get(id).copied()
    }

    /// Top-level techniques under a tactic, sorted by name.
    pub fn column(&self, tactic_position: usize) -> impl Iterator<Item = &Technique> {
        self.columns.get(tactic_position).into_iter().flatten().map(|&i| &self.release.techniques[i])
    }

    pub fn subtechniques(&self, parent: &str) -> impl Iterator<Item = &Technique> {
        self.children.get(parent).into_iter().flatten().map(|&i| &self.release.techniques[i])
    }

    /// Mitigations ATLAS links to this technique.
    pub fn mitigations_for(&self, technique: &str) -> impl Iterator<Item = &Mitigation> {
        self.mitigations_by_technique.get(technique).into_iter().flatten().map(|&i| &self.release.mitigations[i])
    }

    /// Case studies with at least one procedure step using this technique.
    pub fn case_studies_using(&self, technique: &str) -> impl Iterator<Item = &CaseStudy> {
        self.case_studies_by_technique.get(technique).into_iter().flatten().map(|&i| &self.release.case_studies[i])
    }

    pub fn case_study_count(&self, technique: &str) -> usize {
        self.case_studies_by_technique.get(technique).map_or(0, Vec::len)
    }

    pub fn has_official_text(&self) -> bool {
        matches!(self.origin, Origin::Imported { .. }) && self.release.has_official_text()
    }

    /// Every platform named by at least one technique, in the official order.
    pub fn platforms(&self) -> Vec<&'static str> {
        super::model::PLATFORMS
            .into_iter()
            .filter(|p| self.release.techniques.iter().any(|t| t.platforms.iter().any(|q| q == p)))
            .collect()
    }
}
