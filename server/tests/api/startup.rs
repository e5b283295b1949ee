//! First and second start of the embedded default.

use portcullis::app::Application;
use portcullis::config::Config;
use std::collections::BTreeMap;

fn config(dir: &std::path::Path) -> Config {
    let env: BTreeMap<String, String> = [
        ("PORTCULLIS_LISTEN", "127.0.0.1:0".to_owned()),
        ("PORTCULLIS_DATA_DIR", dir.display().to_string()),
        ("PORTCULLIS_ARGON2_MEMORY_KIB", "1024".to_owned()),
        ("PORTCULLIS_ARGON2_ITERATIONS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Config::from_sources(None, &env).unwrap()
}

#[tokio::test]
async fn first_start_bootstraps_and_second_start_reuses() {
    let dir = std::env::temp_dir().join(format!("portcullis-start-{}", uuid::Uuid::now_v7()));
    let first = Application::build(config(&dir)).await.unwrap();
    let boot = first.bootstrapped.as_ref().expect("first start bootstraps");
    assert_eq!(boot.admin_email.as_str(), "admin@localhost");
    let password = boot
        .generated_password
        .as_ref()
        .expect("a generated password")
        .expose()
        .clone();
    assert!(password.len() >= 20);
    assert!(first.master_key_created);
    assert!(dir.join("portcullis.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(first);

    let second = Application::build(config(&dir)).await.unwrap();
    assert!(
        second.bootstrapped.is_none(),
        "no second bootstrap, no password printed"
    );
    assert!(!second.master_key_created);
    // The keys sealed under the first start's master key open again.
    second.services().tenants.resolve("default").await.unwrap();
    drop(second);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_wrong_master_key_stops_the_start_of_a_used_database() {
    let dir = std::env::temp_dir().join(format!("portcullis-start-{}", uuid::Uuid::now_v7()));
    let first = Application::build(config(&dir)).await.unwrap();
    drop(first);
    std::fs::remove_file(dir.join("master.key")).unwrap();
    let second = Application::build(config(&dir)).await.unwrap();
    // A new key was generated, and the old signing keys do not open with it.
    assert!(second.services().tenants.resolve("default").await.is_err());
    drop(second);
    std::fs::remove_dir_all(dir).unwrap();
}
