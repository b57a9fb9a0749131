//! The HTML pages over real HTTP: the matrix, its filters and htmx
//! fragments, the object pages, the release switcher, errors and headers.

use crate::helpers::{StatusCode, TestApp};

#[tokio::test]
async fn the_matrix_shows_every_tactic_in_official_order() {
    let app = TestApp::spawn().await;
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(page.body.matches(r#"<li class="column">"#).count(), 16);
    let recon = page.body.find(">Reconnaissance</a>").expect("Reconnaissance column");
    let staging = page.body.find(">AI Attack Staging</a>").expect("AI Attack Staging column");
    let impact = page.body.find(">Impact</a>").expect("Impact column");
    assert!(recon < staging && staging < impact, "matrix order, not ID order");
    assert!(page.body.contains("All 170 techniques and sub-techniques."));
    // Every technique shows its maturity as text, not only as a colour.
    assert!(page.body.contains(r#"<span class="maturity m-realized">Realized</span>"#));
}

#[tokio::test]
async fn every_page_carries_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    for path in ["/", "/frameworks", "/frameworks/2026.05/techniques/AML.T0051", "/no-such-page"] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert!(!page.body.contains("<script>") && !page.body.contains(" style="), "{path}: inline script or style");
    }
}

#[tokio::test]
async fn filters_work_as_plain_links_and_as_htmx_fragments() {
    let app = TestApp::spawn().await;
    let full = app.get("/frameworks/2026.05?q=prompt+injection").await;
    assert_eq!(full.status, StatusCode::OK);
    assert!(full.body.contains("<html"), "a reload gives the whole page");
    assert!(full.body.contains("LLM Prompt Injection"));
    assert!(!full.body.contains(">Search Open Technical Databases<"), "non-matching techniques are hidden");
    assert!(full.body.contains(r#"value="prompt injection""#), "the form keeps the query");

    let fragment = app
        .get_with("/frameworks/2026.05?q=prompt+injection", &[("HX-Request", "true"), ("HX-Target", "matrix")])
        .await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(!fragment.body.contains("<html"), "htmx gets only the matrix");
    assert!(fragment.body.trim_start().starts_with(r#"<section id="matrix""#));
    assert!(fragment.body.contains("LLM Prompt Injection"));
    assert!(fragment.header("vary").contains("hx-request"));
}

#[tokio::test]
async fn filters_by_tactic_maturity_and_platform() {
    let app = TestApp::spawn().await;
    let page = app.get("/frameworks/default?tactic=AML.TA0011").await;
    assert_eq!(page.body.matches(r#"<li class="column">"#).count(), 1, "only the Impact column");
    let page = app.get("/frameworks/default?maturity=feasible&platform=Agentic+AI").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains(r#"<span class="maturity m-realized">"#) || page.body.contains(r#"class="cell context""#)
    );
    let bad = app.get("/frameworks/default?maturity=legendary").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("maturity: `legendary` is not one of"), "the error names the field");
}

#[tokio::test]
async fn object_pages_link_to_each_other_and_to_the_official_site() {
    let app = TestApp::spawn().await;
    let technique = app.get("/frameworks/2026.05/techniques/AML.T0051.001").await;
    assert_eq!(technique.status, StatusCode::OK);
    assert!(technique.body.contains("https://atlas.mitre.org/techniques/AML.T0051.001"));
    assert!(technique.body.contains(r#"href="/frameworks/2026.05/techniques/AML.T0051""#), "links to its parent");
    assert!(technique.body.contains("/frameworks/2026.05/mitigations/AML.M"), "links to its mitigations");
    assert!(technique.body.contains("/frameworks/2026.05/case-studies/AML.CS"), "links to case studies");
    assert!(technique.body.contains("/frameworks/2026.05/tactics/AML.TA0005"), "links to its tactic");

    for path in [
        "/frameworks/2026.05/tactics/AML.TA0001",
        "/frameworks/2026.05/mitigations",
        "/frameworks/2026.05/mitigations/AML.M0004",
        "/frameworks/2026.05/case-studies",
        "/frameworks/2026.05/case-studies/AML.CS0002",
        "/frameworks",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
    }
    let study = app.get("/frameworks/2026.05/case-studies/AML.CS0000").await;
    assert!(study.body.contains("https://atlas.mitre.org/studies/AML.CS0000"));
}

#[tokio::test]
async fn unknown_ids_and_releases_get_a_404_page() {
    let app = TestApp::spawn().await;
    let page = app.get("/frameworks/2026.05/techniques/AML.T9999").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("AML.T9999"));
    let page = app.get("/frameworks/1.0/techniques/AML.T0000").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("release 1.0 is not loaded"));
}

#[tokio::test]
async fn the_release_switcher_keeps_the_page_when_it_exists_there() {
    let app = TestApp::spawn().await;
    let reply = app.get("/frameworks/switch?version=2026.05&page=techniques/AML.T0051").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/frameworks/2026.05/techniques/AML.T0051");
    let reply = app.get("/frameworks/switch?version=2026.05&page=techniques/AML.T9999").await;
    assert_eq!(reply.header("location"), "/frameworks/2026.05");
    let reply = app.get("/frameworks/switch?version=0.0.1&page=").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_assets_are_versioned_cached_and_compressed() {
    let app = TestApp::spawn().await;
    let page = app.get("/").await;
    let start = page.body.find("/static/vendor/htmx.min.js?v=").expect("htmx script tag");
    let url = &page.body[start..page.body[start..].find('"').map(|e| start + e).expect("end of url")];
    let script = app.get_with(url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("content-encoding"), "gzip");
    assert!(script.header("cache-control").contains("immutable"));
    let etag = script.header("etag").to_string();
    let again = app.get_with(url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(page.body.contains(r#"integrity="sha384-"#), "scripts carry subresource integrity");
}

#[tokio::test]
async fn the_matrix_is_served_compressed_and_refreshed_when_a_release_is_added() {
    let app = TestApp::spawn().await;
    let reply = app.request(axum::http::Method::GET, "/", &[("accept-encoding", "gzip")], Vec::new()).await;
    assert_eq!(reply.header("content-encoding"), "gzip");
    assert!(reply.header("vary").contains("accept-encoding"));
    let plain = app.get("/").await;
    assert!(!plain.body.contains(r#"<option value="2099.01""#));

    let fixture = include_bytes!("../fixtures/calendar-mini.yaml");
    let created = app.post("/api/v1/frameworks", fixture.to_vec()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let after = app.get("/").await;
    assert!(after.body.contains(r#"<option value="2099.01""#), "the release switcher lists the new release");
}

#[tokio::test]
async fn the_token_form_refuses_a_bad_team_or_day_count_instead_of_widening_the_token() {
    let app = TestApp::spawn().await;
    app.post_json("/api/v1/teams", &serde_json::json!({"name": "Red team"})).await;
    for (body, field) in [
        ("name=ci&scope=read&team_id=abc&valid_days=30", "team_id"),
        ("name=ci&scope=read&team_id=&valid_days=ninety", "valid_days"),
        ("name=ci&scope=admin&team_id=&valid_days=30", "scope"),
    ] {
        let page = app.post_form("/account/tokens", body).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(page.body.contains(field), "{body}: the error names {field}");
        assert!(!page.body.contains("value=\"acs_"), "{body}: no token was shown");
    }
    let tokens = crate::helpers::count(&app, "select count(*) from api_tokens").await;
    assert_eq!(tokens, 0, "no token was created");
}

/// A multipart form with one file field and a version field.
fn release_upload(name: &str, file: &[u8], version: &str) -> (String, Vec<u8>) {
    let boundary = "atlascope-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"version\"\r\n\r\n{version}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/yaml\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_administrator_adds_a_release_on_the_releases_page_with_the_same_checks_as_the_api() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let page = app.get("/frameworks").await;
    assert!(page.body.contains("Add a release from an official file"), "administrators see the form");
    let file = crate::helpers::official(&dir, "ATLAS-5.6.0.yaml");
    let (content_type, body) = release_upload("ATLAS-5.6.0.yaml", &file, "");
    let added =
        app.request(axum::http::Method::POST, "/frameworks", &[("content-type", &content_type)], body.clone()).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("Added ATLAS 5.6.0"), "{}", added.body);
    assert_eq!(app.get("/frameworks/5.6.0").await.status, StatusCode::OK);
    let again = app.request(axum::http::Method::POST, "/frameworks", &[("content-type", &content_type)], body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("release 5.6.0 is already loaded"), "{}", again.body);
    let cut = &file[..file.len() / 3];
    let (content_type, body) = release_upload("cut.yaml", cut, "cut");
    let refused = app.request(axum::http::Method::POST, "/frameworks", &[("content-type", &content_type)], body).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Not added: cut.yaml"), "names the file: {}", refused.body);

    // Anyone else sees the list without the form, and may not post.
    let viewer = app.member("vera", 1, None).await;
    let page = app.get_with("/frameworks", &[("cookie", &viewer)]).await;
    assert!(!page.body.contains("Add a release from an official file"));
    let (content_type, body) = release_upload("x.yaml", b"x", "");
    let forbidden = app
        .request(axum::http::Method::POST, "/frameworks", &[("content-type", &content_type), ("cookie", &viewer)], body)
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}
