//! The workshop as a room uses it, in a real Chromium: at projector sizes,
//! by keyboard, with dates typed digit by digit, with two people watching
//! the same panel, and checked with axe-core for accessibility.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser::{eventually, open_browser_sized, sign_in, start_driver, text_of, wait_until_live};
use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, team_and_system};

const SIZES: [(u32, u32); 4] = [(1024, 768), (1280, 720), (1440, 900), (1920, 1080)];

/// Runs a script in the page and returns what it returns.
async fn script(browser: &Client, source: &str) -> Value {
    browser.execute(source, vec![]).await.expect("the script runs")
}

/// Saves a screenshot when `ATLASCOPE_SCREENSHOTS` names a folder (to look at the layouts).
async fn keep_screenshot(browser: &Client, name: &str) {
    if let Some(folder) = std::env::var_os("ATLASCOPE_SCREENSHOTS") {
        let png = browser.screenshot().await.expect("a screenshot");
        std::fs::write(std::path::Path::new(&folder).join(format!("{name}.png")), png).expect("write the screenshot");
    }
}

/// Opens a technique's panel with the mouse and waits until it shows.
async fn open_panel(browser: &Client, technique: &str) {
    let cell = format!(r#"a.wlink[data-technique="{technique}"]"#);
    browser.find(Locator::Css(&cell)).await.expect("the cell").click().await.expect("a click");
    eventually("the panel", || async { text_of(browser, "#panel .id").await.contains(technique) }).await;
}

/// A system with decisions in several states, so every kind of tile shows.
async fn assessed_system(app: &TestApp) -> String {
    let system = team_and_system(app, "Support Chatbot").await;
    for (technique, body) in [
        ("AML.T0051", "applicability=applies&risk=high&version=0"),
        ("AML.T0051.000", "applicability=applies&version=0"),
        ("AML.T0043", "applicability=not_applicable&version=0"),
        ("AML.T0048", "applicability=applies&version=0"),
        ("AML.T0000", "applicability=applies&version=0"),
    ] {
        let saved = app.post_form(&format!("{system}/techniques/{technique}"), body).await;
        assert!(saved.status.is_redirection(), "{technique}: {}", saved.body);
    }
    let covered = app
        .post_form(&format!("{system}/techniques/AML.T0048/mitigations/AML.M0015"), "status=implemented&version=0")
        .await;
    assert!(covered.status.is_redirection(), "{}", covered.body);
    system
}

/// Where an element lies: `[left, top, right, bottom]` in viewport pixels.
async fn rect(browser: &Client, css: &str) -> [f64; 4] {
    let found = browser
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];",
            vec![json!(css)],
        )
        .await
        .expect("the element exists");
    let numbers: Vec<f64> =
        found.as_array().expect("four numbers").iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
    [numbers[0], numbers[1], numbers[2], numbers[3]]
}

async fn viewport(browser: &Client) -> (f64, f64) {
    let size =
        script(browser, "return [document.documentElement.clientWidth, document.documentElement.clientHeight]").await;
    (size[0].as_f64().unwrap_or(0.0), size[1].as_f64().unwrap_or(0.0))
}

fn inside(r: [f64; 4], (width, height): (f64, f64)) -> bool {
    r[0] >= -0.5 && r[1] >= -0.5 && r[2] <= width + 0.5 && r[3] <= height + 0.5
}

fn overlaps(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workshop_and_the_heat_map_fit_a_projector_and_the_panel_never_hides_the_technique() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    for size in SIZES {
        let browser = open_browser_sized(&driver, &format!("room-{}", size.0), size).await;
        sign_in(&browser, &app.base, ADMIN, ADMIN_PASSWORD).await;
        browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
        let screen = viewport(&browser).await;
        keep_screenshot(&browser, &format!("workshop-{}x{}", size.0, size.1)).await;

        // Compact (the default): all sixteen tactics side by side, no sideways scrolling.
        let headers = script(
            &browser,
            "return Array.from(document.querySelectorAll('.wmatrix .tactic')).map(h => { const r = h.getBoundingClientRect(); return [r.left, r.right]; })",
        )
        .await;
        let headers = headers.as_array().expect("tactic headers");
        assert_eq!(headers.len(), 16, "sixteen tactics");
        for header in headers {
            let (left, right) = (header[0].as_f64().unwrap_or(-1.0), header[1].as_f64().unwrap_or(f64::MAX));
            assert!(
                left >= 0.0 && right <= screen.0 + 0.5,
                "{size:?}: a tactic header at {left}..{right} of {}",
                screen.0
            );
        }
        let wide = script(&browser, "return document.documentElement.scrollWidth").await.as_f64().unwrap_or(0.0);
        assert!(wide <= screen.0 + 0.5, "{size:?}: the page scrolls sideways ({wide} > {})", screen.0);
        let matrix_top = rect(&browser, ".wmatrix .columns").await[1];
        assert!(matrix_top < screen.1 / 2.0, "{size:?}: the matrix starts {matrix_top} px down");

        // The panel opens inside the viewport, on the side away from the technique.
        for technique in ["AML.T0000", "AML.T0048"] {
            let cell = format!(r#"a.wlink[data-technique="{technique}"]"#);
            open_panel(&browser, technique).await;
            let panel = rect(&browser, "#panel").await;
            assert!(inside(panel, screen), "{size:?}: the panel {panel:?} leaves the viewport {screen:?}");
            assert!(!overlaps(panel, rect(&browser, &cell).await), "{size:?}: the panel covers {technique}");
            keep_screenshot(&browser, &format!("panel-{technique}-{}x{}", size.0, size.1)).await;
            browser.active_element().await.expect("focus").send_keys(&Key::Escape.to_string()).await.expect("Esc");
            eventually("the panel to close", || async {
                script(&browser, "return document.getElementById('panel').hasAttribute('data-open')").await
                    == json!(false)
            })
            .await;
            let focused = script(&browser, "return document.activeElement.getAttribute('data-technique')").await;
            assert_eq!(focused, json!(technique), "Escape gives the focus back to the technique");
        }

        // Cards, with sticky tactic headers in a scroll box of its own; then
        // presenter mode; the panel stays inside the viewport in both.
        browser
            .find(Locator::Css(r#"button[name="layout"][value="cards"]"#))
            .await
            .expect("cards")
            .click()
            .await
            .expect("cards");
        eventually("cards", || async {
            script(&browser, "return !!document.querySelector('.wmatrix.cards')").await == json!(true)
        })
        .await;
        script(&browser, "document.querySelector('.matrix-scroll').scrollTop = 400").await;
        let header = rect(&browser, ".wmatrix .tactic").await;
        let scroller = rect(&browser, ".matrix-scroll").await;
        assert!((header[1] - scroller[1]).abs() < 1.0, "{size:?}: the tactic headers stay at the top of the matrix");
        browser.find(Locator::Css(".view-toggle button")).await.expect("presenter").click().await.expect("presenter");
        eventually("presenter mode", || async {
            script(&browser, "return document.body.classList.contains('presenter')").await == json!(true)
        })
        .await;
        open_panel(&browser, "AML.T0051").await;
        assert!(
            inside(rect(&browser, "#panel").await, screen),
            "{size:?}: the presenter panel stays inside the viewport"
        );
        keep_screenshot(&browser, &format!("cards-presenter-{}x{}", size.0, size.1)).await;
        press(&browser, Key::Escape).await;
        browser
            .find(Locator::Css(".view-toggle button"))
            .await
            .expect("presenter")
            .click()
            .await
            .expect("presenter off");
        eventually("presenter mode off", || async {
            script(&browser, "return document.body.classList.contains('presenter')").await == json!(false)
        })
        .await;
        browser
            .find(Locator::Css(r#"button[name="layout"][value="compact"]"#))
            .await
            .expect("compact")
            .click()
            .await
            .expect("compact");
        eventually("compact", || async {
            script(&browser, "return !!document.querySelector('.wmatrix.compact')").await == json!(true)
        })
        .await;

        // The team's heat map shows all sixteen tactics.
        browser.goto(&format!("{}/teams/1/overview", app.base)).await.expect("overview");
        keep_screenshot(&browser, &format!("overview-{}x{}", size.0, size.1)).await;
        let right = script(
            &browser,
            "return Math.max(...Array.from(document.querySelectorAll('th.tactic-head')).map(h => h.getBoundingClientRect().right))",
        )
        .await;
        let right = right.as_f64().unwrap_or(f64::MAX);
        if size.0 >= 1280 {
            assert!(right <= screen.0 + 0.5, "{size:?}: the heat map reaches {right} px of {}", screen.0);
        }
        browser.close().await.expect("close");
    }
    drop(driver);
}

/// The technique the keyboard focus is on.
async fn focused(browser: &Client) -> Option<String> {
    script(browser, "return document.activeElement && document.activeElement.getAttribute('data-technique')")
        .await
        .as_str()
        .map(str::to_string)
}

async fn press(browser: &Client, key: Key) {
    let active = browser.active_element().await.expect("a focused element");
    active.send_keys(&key.to_string()).await.expect("the key is pressed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_reaches_every_technique_and_decides_with_single_keys() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    let browser = open_browser_sized(&driver, "keys", (1280, 720)).await;
    sign_in(&browser, &app.base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
    wait_until_live(&browser).await;
    // One technique's sub-techniques are unfolded: they are visible, so they are reachable.
    script(&browser, "document.querySelector('a.wlink[data-technique=\"AML.T0051\"]').parentElement.querySelector('details').open = true").await;
    let visible = script(
        &browser,
        "return Array.from(document.querySelectorAll('.wmatrix a.wlink')).filter(l => l.getClientRects().length && !l.closest('details:not([open])')).map(l => l.dataset.technique)",
    )
    .await;
    let visible: std::collections::BTreeSet<String> =
        visible.as_array().expect("links").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    assert!(visible.contains("AML.T0051.000") && !visible.contains("AML.T0043.000"), "unfolded subs only: {visible:?}");

    // From the first cell: down each tactic to its end, then across to the next.
    script(&browser, "document.querySelector('.wmatrix a.wlink').focus()").await;
    let mut reached = std::collections::BTreeSet::new();
    loop {
        press(&browser, Key::Home).await;
        let mut here = focused(&browser).await.expect("a technique has the focus");
        reached.insert(here.clone());
        loop {
            press(&browser, Key::Down).await;
            let next = focused(&browser).await.expect("a technique has the focus");
            if next == here {
                break;
            }
            reached.insert(next.clone());
            here = next;
        }
        press(&browser, Key::Right).await;
        if focused(&browser).await.as_ref() == Some(&here) {
            break;
        }
    }
    assert_eq!(reached, visible, "every visible technique and sub-technique is reached by the arrow keys");

    // ArrowRight from the third row goes to the nearest row of the next tactic.
    script(&browser, "document.querySelectorAll('.wmatrix .column')[0].querySelectorAll('a.wlink')[2].focus()").await;
    press(&browser, Key::Right).await;
    let column = script(&browser, "return Array.from(document.querySelectorAll('.wmatrix .column')).indexOf(document.activeElement.closest('.column'))").await;
    assert_eq!(column, json!(1), "ArrowRight moves to the second tactic");

    // A single key decides; Enter opens the panel, Escape closes it and comes back.
    script(&browser, "document.querySelector('a.wlink[data-technique=\"AML.T0049\"]').focus()").await;
    press(&browser, Key::Escape).await;
    let active = browser.active_element().await.expect("focus");
    active.send_keys("a").await.expect("a");
    eventually("the decision to be saved", || async {
        text_of(&browser, "#flash").await.contains("Set 1 technique(s) to “Applies”")
    })
    .await;
    eventually("the tile to show the gap", || async {
        script(&browser, "return document.querySelector('[sse-swap=\"state-AML_T0049\"] .badge').className")
            .await
            .as_str()
            .unwrap_or("")
            .contains("s-gap")
    })
    .await;
    press(&browser, Key::Enter).await;
    eventually("the panel", || async { text_of(&browser, "#panel .id").await.contains("AML.T0049") }).await;
    press(&browser, Key::Escape).await;
    assert_eq!(focused(&browser).await.as_deref(), Some("AML.T0049"));
    let active = browser.active_element().await.expect("focus");
    active.send_keys("?").await.expect("?");
    assert_eq!(
        script(&browser, "return document.getElementById('shortcuts').open").await,
        json!(true),
        "? shows the keys"
    );
    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_date_typed_digit_by_digit_is_saved_once_and_exactly() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    let browser = open_browser_sized(&driver, "dates", (1024, 768)).await;
    sign_in(&browser, &app.base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
    open_panel(&browser, "AML.T0051").await;
    script(&browser, "document.querySelector('#panel .status-form .status-details').open = true").await;
    let form_action =
        script(&browser, "return document.querySelector('#panel .status-form').getAttribute('action')").await;
    let mitigation = form_action.as_str().and_then(|a| a.rsplit('/').next()).expect("a mitigation").to_string();
    // Focused from the start, as a Tab into it would: month, day, then year.
    script(&browser, "document.querySelector('#panel .status-form input[type=date]').focus()").await;
    // One key event per digit, sent in one go: Chromium 148 reads the year
    // segment wrongly when each digit comes in a WebDriver call of its own.
    browser.active_element().await.expect("the date").send_keys("03152027").await.expect("the digits");
    let api = format!("/api/v1{system}/mitigations/{mitigation}");
    let unsaved = app.get(&api).await;
    assert!(!unsaved.body.contains("target_date\":\"0"), "no partial year was saved: {}", unsaved.body);
    assert!(unsaved.body.contains("\"version\":0"), "nothing saved while typing: {}", unsaved.body);
    // Leaving the field (to the evidence beside it) saves the whole date.
    let evidence = browser.find(Locator::Css(r#"#panel .status-form input[name="evidence"]"#)).await.expect("evidence");
    evidence.click().await.expect("move on");
    eventually("the save", || async { text_of(&browser, "#panel").await.contains("Saved.") }).await;
    let saved = app.get(&api).await;
    assert!(saved.body.contains("\"target_date\":\"2027-03-15\""), "{}", saved.body);
    assert!(saved.body.contains("\"version\":1"), "saved once: {}", saved.body);
    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_mitigation_says_what_else_it_covers_and_its_change_reaches_every_open_panel() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    app.member("bob", 1, Some(atlascope::auth::Role::Editor)).await;
    let framework = app.state.catalog.get("2026.05").expect("the release");
    let shared = framework
        .mitigations_for("AML.T0051")
        .find(|m| {
            m.techniques.iter().any(|t| t.technique != "AML.T0051" && framework.technique(&t.technique).is_some())
        })
        .expect("a mitigation of AML.T0051 that covers another technique");
    let other = shared.techniques.iter().map(|t| t.technique.clone()).find(|t| t != "AML.T0051").expect("another");
    let alice = open_browser_sized(&driver, "alice", (1280, 720)).await;
    let bob = open_browser_sized(&driver, "bob", (1024, 768)).await;
    sign_in(&alice, &app.base, ADMIN, ADMIN_PASSWORD).await;
    sign_in(&bob, &app.base, "bob", "a long enough password").await;
    for (browser, technique) in [(&bob, "AML.T0051"), (&alice, other.as_str())] {
        browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
        wait_until_live(browser).await;
        open_panel(browser, technique).await;
    }
    // Before changing it, Alice is told the status is shared with AML.T0051.
    let also = format!(r#"[id="also-{}-{}"]"#, other.replace('.', "_"), shared.id);
    let warning = alice.find(Locator::Css(&also)).await.expect("the shared-status note");
    assert!(warning.text().await.expect("text").contains("also counts for"));
    script(&alice, &format!("document.querySelector('{}').open = true", also.replace('\'', "\\'"))).await;
    assert!(text_of(&alice, &also).await.contains("AML.T0051"), "AML.T0051 is named among the others");
    let select = alice
        .find(Locator::Css(&format!(r#"[id="st-{}-{}"]"#, other.replace('.', "_"), shared.id)))
        .await
        .expect("the status");
    select.select_by_value("implemented").await.expect("implemented");
    eventually("Alice's save", || async { text_of(&alice, "#panel").await.contains("Saved.") }).await;
    // Bob's open panel on AML.T0051 shows the change in its history.
    eventually("Bob's panel history", || async {
        let history = text_of(&bob, "#panel .history-slot").await;
        history.contains(&shared.id) && history.contains("admin")
    })
    .await;
    alice.close().await.expect("close");
    bob.close().await.expect("close");
    drop(driver);
}

/// Runs axe-core (from npm, through the lock file) on the current page and
/// returns its serious and critical violations, one line each.
pub(crate) async fn serious_violations(browser: &Client) -> Vec<String> {
    let source = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/npm/node_modules/axe-core/axe.min.js"))
        .expect("build.rs installs axe-core");
    browser.execute(&source, vec![]).await.expect("axe is injected");
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'],
                 runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![],
        )
        .await
        .expect("axe runs");
    result
        .as_array()
        .expect("violations")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| format!("{} ({}): {} at {}", v["id"], v["impact"], v["help"], v["nodes"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_serious_violation_on_the_matrix_the_workshop_and_the_gap_report() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    let browser = open_browser_sized(&driver, "axe", (1280, 720)).await;
    sign_in(&browser, &app.base, ADMIN, ADMIN_PASSWORD).await;
    let mut found = Vec::new();
    for (page, path) in [
        ("matrix", "/frameworks/2026.05".to_string()),
        ("workshop", system.clone()),
        ("workshop, detection view", format!("{system}?view=detection")),
        ("workshop, combined view", format!("{system}?view=combined")),
        ("gap report", format!("{system}/gaps")),
        ("detections", "/teams/1/detections".to_string()),
        ("history", format!("{system}/history")),
        ("team overview", "/teams/1/overview".to_string()),
        ("team", "/teams/1".to_string()),
    ] {
        browser.goto(&format!("{}{path}", app.base)).await.expect("page");
        found.extend(serious_violations(&browser).await.into_iter().map(|v| format!("{page}: {v}")));
    }
    // The workshop with its panel open, in cards and in presenter mode.
    browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
    open_panel(&browser, "AML.T0051").await;
    found.extend(serious_violations(&browser).await.into_iter().map(|v| format!("panel: {v}")));
    browser
        .find(Locator::Css(r#"button[name="layout"][value="cards"]"#))
        .await
        .expect("cards")
        .click()
        .await
        .expect("switch");
    eventually("the cards layout", || async {
        script(&browser, "return !!document.querySelector('.wmatrix.cards')").await == json!(true)
    })
    .await;
    browser.find(Locator::Css(".view-toggle button")).await.expect("presenter").click().await.expect("switch");
    eventually("presenter mode", || async {
        script(&browser, "return document.body.classList.contains('presenter')").await == json!(true)
    })
    .await;
    assert!(
        script(&browser, "return !!document.querySelector('.wmatrix.cards')").await == json!(true),
        "the layout is remembered"
    );
    found.extend(serious_violations(&browser).await.into_iter().map(|v| format!("cards, presenter: {v}")));
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_switches_between_prevention_detection_and_both_by_keyboard() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    let detected =
        app.post_form(&format!("{system}/techniques/AML.T0051/detection"), "detection_status=detected&version=0").await;
    assert!(detected.status.is_redirection(), "{}", detected.body);
    let browser = open_browser_sized(&driver, "views", (1024, 768)).await;
    sign_in(&browser, &app.base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}{system}", app.base)).await.expect("workshop");
    // What the T0051 cell shows: the text of its visible badges.
    let shown = || async {
        let found = script(
            &browser,
            "return Array.from(document.querySelectorAll('a.wlink[data-technique=\"AML.T0051\"] ~ .wstate .badge'))\
               .filter(b => getComputedStyle(b).display !== 'none').map(b => b.textContent.trim()).join(' | ')",
        )
        .await;
        found.as_str().unwrap_or_default().to_string()
    };
    assert!(shown().await.contains("Gap"), "prevention by default: {}", shown().await);
    for (link, expected) in [("Detection", "Detected"), ("Both", "Detected only"), ("Prevention", "Gap")] {
        // Reach the view link by keyboard and follow it with Enter.
        let target = browser
            .find(Locator::XPath(&format!("//nav[@class='view-switch']/a[normalize-space()='{link}']")))
            .await
            .expect("the view link");
        browser
            .execute("arguments[0].focus()", vec![serde_json::to_value(&target).expect("an element")])
            .await
            .expect("focus");
        browser.active_element().await.expect("focused").send_keys(&Key::Enter.to_string()).await.expect("Enter");
        eventually(&format!("the {link} view"), || async {
            script(&browser, "return document.querySelector('.view-switch a[aria-current=\"true\"]')?.textContent")
                .await
                == json!(link)
        })
        .await;
        let text = shown().await;
        assert!(text.contains(expected), "{link}: {text}");
        assert!(!text.contains('|'), "{link}: one badge per cell, the view's: {text}");
    }
    browser.close().await.expect("close");
    drop(driver);
}
