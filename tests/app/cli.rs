//! The command line, run as the real binary: exit codes and messages.

use std::process::Command;

use crate::helpers::shared_atlas;

fn atlascope(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_atlascope"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_is_available_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["framework", "--help"],
        &["framework", "import", "--help"],
        &["framework", "diff", "--help"],
    ] {
        let (ok, out, _) = atlascope(dir.path(), args);
        assert!(ok && out.contains("Usage:"), "{args:?}");
    }
}

/// A data directory with a new database, as `atlascope init` makes it.
pub fn initialised() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = atlascope(dir.path(), &["init"]);
    assert!(ok && out.contains("atlascope database created"), "{out}{err}");
    dir
}

#[test]
fn list_shows_the_bundled_default_release() {
    let dir = initialised();
    let (ok, out, _) = atlascope(dir.path(), &["framework", "list"]);
    assert!(ok);
    assert!(out.contains("2026.05 (default)"), "{out}");
    assert!(out.contains("101 techniques + 69 sub-techniques"), "{out}");
}

#[test]
fn commands_refuse_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("atlascope-dat");
    let backup = dir.path().join("backup.sqlite");
    for args in [
        &["backup", backup.to_str().unwrap()][..],
        &["framework", "list"],
        &["user", "list"],
        &["report", "gaps", "--system", "1"],
        &["check", "--system", "1", "--min-coverage", "50"],
    ] {
        let (ok, _, err) = atlascope(&typo, args);
        assert!(!ok, "{args:?} fails");
        assert!(err.contains("holds no atlascope database") && err.contains("atlascope-dat"), "{args:?}: {err}");
    }
    assert!(!typo.join("atlascope.sqlite").exists(), "no empty database was created");
    assert!(!backup.exists(), "no empty backup was written");
}

#[test]
fn restore_is_refused_while_a_server_runs_on_the_data_directory() {
    let dir = initialised();
    let backup = dir.path().join("backup.sqlite");
    let (ok, _, err) = atlascope(dir.path(), &["backup", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_atlascope"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the server starts");
    let lock = dir.path().join("atlascope.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != server.id().to_string() {
        assert!(std::time::Instant::now() < deadline, "the server takes its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (ok, _, err) = atlascope(dir.path(), &["restore", backup.to_str().unwrap()]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(!ok, "restore fails while the server runs");
    assert!(err.contains(&format!("another atlascope server (pid {}) is running", server.id())), "{err}");
    let (ok, out, err) = atlascope(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(ok, "once the server stopped, restore works: {err}");
    assert!(out.contains("Restored"));
}

#[test]
fn a_bad_file_exits_non_zero_and_names_the_file() {
    let dir = initialised();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "matrices:\n- id: ATLAS\n  tactics: [\n").unwrap();
    let (ok, _, err) = atlascope(dir.path(), &["framework", "import", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("broken.yaml: line "), "{err}");
    let (ok, _, err) = atlascope(dir.path(), &["framework", "import", "/no/such/file.yaml"]);
    assert!(!ok);
    assert!(err.contains("/no/such/file.yaml"), "{err}");
}

#[test]
fn import_prints_version_format_and_counts_then_diff_compares() {
    let Some(atlas) = shared_atlas() else { return };
    let dir = initialised();
    let file = atlas.join("ATLAS-5.5.0.yaml");
    let (ok, out, err) = atlascope(dir.path(), &["framework", "import", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("Imported ATLAS release 5.5.0"), "{out}");
    assert!(out.contains("legacy ATLAS.yaml"), "{out}");
    assert!(
        out.contains("101 techniques + 66 sub-techniques, 35 mitigations, 57 case studies, 447 procedure steps"),
        "{out}"
    );

    let (ok, _, err) = atlascope(dir.path(), &["framework", "import", file.to_str().unwrap()]);
    assert!(!ok && err.contains("already loaded"), "{err}");

    let (ok, out, _) = atlascope(dir.path(), &["framework", "diff", "5.5.0", "2026.05"]);
    assert!(ok);
    assert!(out.contains("Techniques added (3)"), "{out}");
    assert!(out.contains("AML.T0052.001 Deepfake-Assisted Phishing"), "{out}");

    let older = atlas.join("ATLAS-4.9.1.yaml");
    let (ok, out, _) = atlascope(dir.path(), &["framework", "diff", older.to_str().unwrap(), "5.5.0"]);
    assert!(ok, "a file works as a diff side");
    assert!(out.contains("AML.T0053: LLM Plugin Compromise -> AI Agent Tool Invocation"), "{out}");
}

#[test]
fn a_database_migrated_by_a_newer_atlascope_refuses_to_start_and_is_left_as_it_was() {
    let dir = initialised();
    let file = dir.path().join("atlascope.sqlite");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.expect("open");
        sqlx::query(
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
             values (9999, 'from the future', true, x'00', 1)",
        )
        .execute(&mut connection)
        .await
        .expect("a newer migration recorded");
        connection.close().await.expect("closed");
    });
    let before = std::fs::read(&file).expect("the database");
    for args in [&["framework", "list"][..], &["init"], &["serve", "--bind", "127.0.0.1:0"]] {
        let (ok, _, err) = atlascope(dir.path(), args);
        assert!(!ok, "{args:?} refuses the database");
        assert!(
            err.contains("migrated by a newer atlascope (schema version 9999; this atlascope knows up to "),
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read(&file).expect("the database"), before, "nothing was written to it");
}

#[tokio::test]
async fn the_command_line_disables_and_enables_an_account() {
    let app = crate::helpers::TestApp::spawn().await;
    app.member("jo", 0, None).await;
    let run = |args: &[&str]| {
        let output = crate::helpers::atlascope_command(&app).args(args).output().expect("the command runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (ok, said) = run(&["user", "disable", "jo"]);
    assert!(ok && said.contains("Disabled jo"), "{said}");
    let (_, list) = run(&["user", "list"]);
    let jo = list.lines().find(|l| l.starts_with("jo ")).unwrap_or_default().to_string();
    assert!(jo.contains("password") && jo.contains("; disabled]"), "{list}");
    assert_eq!(
        crate::helpers::count(
            &app,
            "select count(*) from sessions s join users u on u.id = s.user_id where u.username = 'jo'"
        )
        .await,
        0
    );
    let (ok, said) = run(&["user", "enable", "jo"]);
    assert!(ok && said.contains("Enabled jo"), "{said}");
    let (ok, said) = run(&["user", "disable", "nobody-at-all"]);
    assert!(!ok && said.contains("nobody-at-all"), "an unknown name fails, naming it: {said}");
}
