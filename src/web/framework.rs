//! Pages of the ATLAS knowledge base: the matrix with its filters, the
//! technique, tactic, mitigation and case-study pages, the release list,
//! the release switcher and release differences.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Chrome, WebError, is_htmx_for, release, render};
use crate::app::AppState;
use crate::atlas::Framework;
use crate::atlas::framework::Counts;
use crate::atlas::markdown;
use crate::atlas::matrix::{self, TechniqueFilter};
use crate::atlas::model::{CaseStudy, Maturity, Mitigation, PLATFORMS, Tactic, Technique, official_url};
use crate::domain::release_diff::{ReleaseDiff, diff};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(default_matrix))
        .route("/frameworks/switch", get(switch_release))
        .route("/frameworks/diff", get(diff_page))
        .route("/frameworks/{version}", get(matrix_page))
        .route("/frameworks/{version}/tactics/{id}", get(tactic_page))
        .route("/frameworks/{version}/techniques/{id}", get(technique_page))
        .route("/frameworks/{version}/mitigations", get(mitigations_page))
        .route("/frameworks/{version}/mitigations/{id}", get(mitigation_page))
        .route("/frameworks/{version}/case-studies", get(case_studies_page))
        .route("/frameworks/{version}/case-studies/{id}", get(case_study_page))
}

// ---------------------------------------------------------------- matrix

#[derive(Debug, Default, Deserialize)]
pub struct MatrixQuery {
    q: Option<String>,
    tactic: Option<String>,
    maturity: Option<String>,
    platform: Option<String>,
}

pub struct PlatformTag {
    pub short: &'static str,
    pub name: &'static str,
}

fn platform_tags(technique: &Technique) -> Vec<PlatformTag> {
    PLATFORMS
        .iter()
        .zip(["Pred", "Gen", "Agent", "Ent"])
        .filter(|(name, _)| technique.platforms.iter().any(|p| p == *name))
        .map(|(name, short)| PlatformTag { short, name })
        .collect()
}

pub struct SubView<'a> {
    pub technique: &'a Technique,
    pub platforms: Vec<PlatformTag>,
    pub case_studies: usize,
}

pub struct CellView<'a> {
    pub technique: &'a Technique,
    pub platforms: Vec<PlatformTag>,
    pub case_studies: usize,
    pub context_only: bool,
    pub subs: Vec<SubView<'a>>,
    pub sub_total: usize,
    pub open: bool,
}

pub struct ColumnView<'a> {
    pub tactic: &'a Tactic,
    pub cells: Vec<CellView<'a>>,
}

pub struct MatrixView<'a> {
    pub base: String,
    pub columns: Vec<ColumnView<'a>>,
    pub shown: usize,
    pub total: usize,
    pub filtered: bool,
}

pub struct FilterForm<'a> {
    pub base: String,
    pub q: String,
    pub tactic: String,
    pub maturity: String,
    pub platform: String,
    pub tactics: &'a [Tactic],
    pub maturities: [Maturity; 3],
    pub platforms: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "pages/matrix.html")]
struct MatrixPage<'a> {
    chrome: Chrome,
    framework: &'a Framework,
    counts: Counts,
    form: FilterForm<'a>,
    matrix: MatrixView<'a>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/matrix_fragment.html")]
struct MatrixFragment<'a> {
    matrix: MatrixView<'a>,
}

fn matrix_view<'a>(framework: &'a Framework, filter: &TechniqueFilter) -> MatrixView<'a> {
    let laid_out = matrix::build(framework, filter);
    let filtered = !filter.is_empty();
    let columns = laid_out
        .columns
        .into_iter()
        .map(|column| ColumnView {
            tactic: column.tactic,
            cells: column
                .cells
                .into_iter()
                .map(|cell| CellView {
                    technique: cell.technique,
                    platforms: platform_tags(cell.technique),
                    case_studies: cell.case_studies,
                    context_only: !cell.matched,
                    open: filtered && !cell.subtechniques.is_empty() && (filter.text.is_some() || !cell.matched),
                    sub_total: cell.subtechnique_total,
                    subs: cell
                        .subtechniques
                        .into_iter()
                        .map(|sub| SubView {
                            technique: sub.technique,
                            platforms: platform_tags(sub.technique),
                            case_studies: sub.case_studies,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    MatrixView {
        base: format!("/frameworks/{}", framework.version()),
        columns,
        shown: laid_out.shown,
        total: framework.techniques().len(),
        filtered,
    }
}

async fn default_matrix(
    state: State<AppState>,
    query: Query<MatrixQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    matrix_page(state, Path("default".to_string()), query, headers).await
}

async fn matrix_page(
    State(state): State<AppState>,
    Path(version): Path<String>,
    Query(query): Query<MatrixQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let parsed = TechniqueFilter::parse(
        &framework,
        query.q.as_deref(),
        query.tactic.as_deref(),
        query.maturity.as_deref(),
        query.platform.as_deref(),
    );
    let (filter, error) = match parsed {
        Ok(filter) => (filter, None),
        Err(e) => (TechniqueFilter::default(), Some(e.to_string())),
    };
    let fragment = is_htmx_for(&headers, "matrix");
    if filter.is_empty() && error.is_none() && !fragment {
        let page = state.pages.get_or_render(framework.version(), state.catalog.generation(), || {
            full_matrix_page(&state, &framework, &query, &filter, None).map(|html| html.0)
        })?;
        return Ok(page.response(&headers));
    }
    let mut response = if fragment {
        let view = matrix_view(&framework, &filter);
        render(&MatrixFragment { matrix: view })?.into_response()
    } else {
        let invalid = error.is_some();
        let mut response = full_matrix_page(&state, &framework, &query, &filter, error)?.into_response();
        if invalid {
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        }
        response
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("hx-request, hx-target"));
    Ok(response)
}

fn full_matrix_page(
    state: &AppState,
    framework: &Framework,
    query: &MatrixQuery,
    filter: &TechniqueFilter,
    error: Option<String>,
) -> Result<axum::response::Html<String>, WebError> {
    let view = matrix_view(framework, filter);
    let form = FilterForm {
        base: view.base.clone(),
        q: query.q.clone().unwrap_or_default(),
        tactic: query.tactic.clone().unwrap_or_default(),
        maturity: query.maturity.clone().unwrap_or_default(),
        platform: query.platform.clone().unwrap_or_default(),
        tactics: framework.tactics(),
        maturities: Maturity::ALL,
        platforms: framework.platforms(),
    };
    let page = MatrixPage {
        chrome: Chrome::new(state, framework, ""),
        framework,
        counts: framework.counts(),
        form,
        matrix: view,
        error,
    };
    render(&page)
}

// ---------------------------------------------------------------- object pages

pub struct LinkedMitigation<'a> {
    pub mitigation: &'a Mitigation,
    pub how: Option<String>,
}

pub struct UsedIn<'a> {
    pub case_study: &'a CaseStudy,
    pub steps: Vec<usize>,
}

#[derive(Template)]
#[template(path = "pages/technique.html")]
struct TechniquePage<'a> {
    chrome: Chrome,
    base: String,
    technique: &'a Technique,
    parent: Option<&'a Technique>,
    tactics: Vec<&'a Tactic>,
    subs: Vec<&'a Technique>,
    platforms: Vec<PlatformTag>,
    mitigations: Vec<LinkedMitigation<'a>>,
    used_in: Vec<UsedIn<'a>>,
    description_html: Option<String>,
    official_url: String,
}

async fn technique_page(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let technique = framework.technique(&id).ok_or_else(|| {
        WebError::NotFound(format!("Technique {id} is not in ATLAS release {}.", framework.version()))
    })?;
    let mitigations = framework
        .mitigations_for(&technique.id)
        .map(|mitigation| LinkedMitigation {
            mitigation,
            how: mitigation
                .techniques
                .iter()
                .find(|l| l.technique == technique.id)
                .and_then(|l| l.description.as_deref())
                .map(markdown::render),
        })
        .collect();
    let used_in = framework
        .case_studies_using(&technique.id)
        .map(|case_study| UsedIn {
            case_study,
            steps: case_study
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.technique == technique.id)
                .map(|(n, _)| n + 1)
                .collect(),
        })
        .collect();
    let page = TechniquePage {
        chrome: Chrome::new(&state, &framework, &format!("techniques/{id}")),
        base: format!("/frameworks/{}", framework.version()),
        parent: technique.parent.as_deref().and_then(|p| framework.technique(p)),
        tactics: technique.tactics.iter().filter_map(|t| framework.tactic(t)).collect(),
        subs: framework.subtechniques(&technique.id).collect(),
        platforms: platform_tags(technique),
        mitigations,
        used_in,
        description_html: technique.description.as_deref().map(markdown::render),
        official_url: official_url(&technique.id),
        technique,
    };
    Ok(render(&page)?.into_response())
}

pub struct TacticEntry<'a> {
    pub technique: &'a Technique,
    pub subs: Vec<&'a Technique>,
    pub case_studies: usize,
}

#[derive(Template)]
#[template(path = "pages/tactic.html")]
struct TacticPage<'a> {
    chrome: Chrome,
    base: String,
    tactic: &'a Tactic,
    position: usize,
    entries: Vec<TacticEntry<'a>>,
    description_html: Option<String>,
    official_url: String,
}

async fn tactic_page(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let (tactic, position) = framework
        .tactic(&id)
        .zip(framework.tactic_position(&id))
        .ok_or_else(|| WebError::NotFound(format!("Tactic {id} is not in ATLAS release {}.", framework.version())))?;
    let entries = framework
        .column(position)
        .map(|technique| TacticEntry {
            technique,
            subs: framework.subtechniques(&technique.id).collect(),
            case_studies: framework.case_study_count(&technique.id),
        })
        .collect();
    let page = TacticPage {
        chrome: Chrome::new(&state, &framework, &format!("tactics/{id}")),
        base: format!("/frameworks/{}", framework.version()),
        tactic,
        position: position + 1,
        entries,
        description_html: tactic.description.as_deref().map(markdown::render),
        official_url: official_url(&tactic.id),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Template)]
#[template(path = "pages/mitigations.html")]
struct MitigationsPage<'a> {
    chrome: Chrome,
    base: String,
    mitigations: &'a [Mitigation],
    unmitigated: usize,
    total_techniques: usize,
}

async fn mitigations_page(State(state): State<AppState>, Path(version): Path<String>) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let unmitigated =
        framework.techniques().iter().filter(|t| framework.mitigations_for(&t.id).next().is_none()).count();
    let page = MitigationsPage {
        chrome: Chrome::new(&state, &framework, "mitigations"),
        base: format!("/frameworks/{}", framework.version()),
        mitigations: framework.mitigations(),
        unmitigated,
        total_techniques: framework.techniques().len(),
    };
    Ok(render(&page)?.into_response())
}

pub struct MitigatedTechnique<'a> {
    pub technique: &'a Technique,
    pub how: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/mitigation.html")]
struct MitigationPage<'a> {
    chrome: Chrome,
    base: String,
    mitigation: &'a Mitigation,
    techniques: Vec<MitigatedTechnique<'a>>,
    description_html: Option<String>,
    official_url: String,
}

async fn mitigation_page(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let mitigation = framework.mitigation(&id).ok_or_else(|| {
        WebError::NotFound(format!("Mitigation {id} is not in ATLAS release {}.", framework.version()))
    })?;
    let techniques = mitigation
        .techniques
        .iter()
        .filter_map(|link| {
            framework.technique(&link.technique).map(|technique| MitigatedTechnique {
                technique,
                how: link.description.as_deref().map(markdown::render),
            })
        })
        .collect();
    let page = MitigationPage {
        chrome: Chrome::new(&state, &framework, &format!("mitigations/{id}")),
        base: format!("/frameworks/{}", framework.version()),
        mitigation,
        techniques,
        description_html: mitigation.description.as_deref().map(markdown::render),
        official_url: official_url(&mitigation.id),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Template)]
#[template(path = "pages/case_studies.html")]
struct CaseStudiesPage<'a> {
    chrome: Chrome,
    base: String,
    case_studies: &'a [CaseStudy],
}

async fn case_studies_page(State(state): State<AppState>, Path(version): Path<String>) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let page = CaseStudiesPage {
        chrome: Chrome::new(&state, &framework, "case-studies"),
        base: format!("/frameworks/{}", framework.version()),
        case_studies: framework.case_studies(),
    };
    Ok(render(&page)?.into_response())
}

pub struct StepView<'a> {
    pub number: usize,
    pub tactic: Option<&'a Tactic>,
    pub tactic_id: &'a str,
    pub technique: Option<&'a Technique>,
    pub technique_id: &'a str,
    pub description_html: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/case_study.html")]
struct CaseStudyPage<'a> {
    chrome: Chrome,
    base: String,
    case_study: &'a CaseStudy,
    steps: Vec<StepView<'a>>,
    description_html: Option<String>,
    official_url: String,
}

async fn case_study_page(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let framework = release(&state, &version)?;
    let case_study = framework.case_study(&id).ok_or_else(|| {
        WebError::NotFound(format!("Case study {id} is not in ATLAS release {}.", framework.version()))
    })?;
    let steps = case_study
        .steps
        .iter()
        .enumerate()
        .map(|(n, step)| StepView {
            number: n + 1,
            tactic: framework.tactic(&step.tactic),
            tactic_id: &step.tactic,
            technique: framework.technique(&step.technique),
            technique_id: &step.technique,
            description_html: step.description.as_deref().map(markdown::render),
        })
        .collect();
    let page = CaseStudyPage {
        chrome: Chrome::new(&state, &framework, &format!("case-studies/{id}")),
        base: format!("/frameworks/{}", framework.version()),
        case_study,
        steps,
        description_html: case_study.description.as_deref().map(markdown::render),
        official_url: official_url(&case_study.id),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
struct SwitchQuery {
    version: String,
    #[serde(default)]
    page: String,
}

/// The release switcher's form target: the same page in the chosen release
/// when it exists there, otherwise that release's matrix.
async fn switch_release(State(state): State<AppState>, Query(query): Query<SwitchQuery>) -> Result<Redirect, WebError> {
    let framework = release(&state, &query.version)?;
    let version = framework.version();
    let page = query.page.trim_matches('/');
    let mut parts = page.splitn(2, '/');
    let exists = match (parts.next(), parts.next()) {
        (Some("techniques"), Some(id)) => framework.technique(id).is_some(),
        (Some("tactics"), Some(id)) => framework.tactic(id).is_some(),
        (Some("mitigations"), Some(id)) => framework.mitigation(id).is_some(),
        (Some("case-studies"), Some(id)) => framework.case_study(id).is_some(),
        (Some("mitigations" | "case-studies"), None) => true,
        _ => false,
    };
    let target = if exists { format!("/frameworks/{version}/{page}") } else { format!("/frameworks/{version}") };
    Ok(Redirect::to(&target))
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "pages/diff.html")]
struct DiffPage {
    chrome: Chrome,
    diff: ReleaseDiff,
}

async fn diff_page(State(state): State<AppState>, Query(query): Query<DiffQuery>) -> Result<Response, WebError> {
    let old: Arc<Framework> = release(&state, &query.from)?;
    let new: Arc<Framework> = release(&state, &query.to)?;
    let page = DiffPage { chrome: Chrome::new(&state, &new, ""), diff: diff(&old, &new) };
    Ok(render(&page)?.into_response())
}
