//! Every rule and failure case of consent (§2), on real files in temporary directories.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::config;
use rusa_telemetry::{Rule, Telemetry, TelemetryConfig, read_global, resolve_consent};

fn fresh(dir: &Path) -> TelemetryConfig {
    config(dir, "http://127.0.0.1:9")
}

fn config_path(c: &TelemetryConfig) -> &Path {
    c.config_file.as_deref().unwrap()
}

fn with_file(dir: &Path, enabled: bool) -> TelemetryConfig {
    let c = fresh(dir);
    rusa_telemetry::enable(&c).unwrap();
    if !enabled {
        rusa_telemetry::disable(&c, std::time::Duration::ZERO).unwrap();
    }
    c
}

#[test]
fn do_not_track_one_or_true_is_off_and_creates_nothing() {
    for value in ["1", "true", "TRUE", "True"] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = fresh(dir.path());
        c.do_not_track = Some(value.into());
        let r = resolve_consent(&c, true);
        assert!(!r.consent.enabled, "{value}");
        assert!(matches!(r.consent.rule, Rule::DoNotTrack { .. }));
        assert!(
            !config_path(&c).exists(),
            "no file when opted out by DO_NOT_TRACK={value}"
        );
        assert!(!dir.path().join("home").exists(), "no directory either");
    }
}

#[test]
fn do_not_track_with_other_values_does_not_decide() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = with_file(dir.path(), true);
    c.do_not_track = Some("0".into());
    let r = resolve_consent(&c, true);
    assert!(r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::ConfigFile { .. }));
}

#[test]
fn rusa_telemetry_enabled_is_on_only_for_true() {
    for (value, on) in [
        ("true", true),
        ("TRUE", true),
        ("false", false),
        ("0", false),
        ("yes", false),
        ("", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = with_file(dir.path(), !on);
        c.rusa_telemetry_enabled = Some(value.into());
        let r = resolve_consent(&c, true);
        assert_eq!(r.consent.enabled, on, "RUSA_TELEMETRY_ENABLED={value:?}");
        assert!(matches!(r.consent.rule, Rule::RusaTelemetryEnabled { .. }));
    }
}

#[test]
fn rusa_telemetry_enabled_false_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = fresh(dir.path());
    c.rusa_telemetry_enabled = Some("false".into());
    assert!(!resolve_consent(&c, true).consent.enabled);
    assert!(!config_path(&c).exists());
}

#[test]
fn rasa_telemetry_enabled_anything_but_true_is_off() {
    for value in ["false", "0", "no", ""] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = with_file(dir.path(), true);
        c.rasa_telemetry_enabled = Some(value.into());
        let r = resolve_consent(&c, true);
        assert!(!r.consent.enabled, "RASA_TELEMETRY_ENABLED={value:?}");
        assert!(matches!(r.consent.rule, Rule::RasaTelemetryEnabled { .. }));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = fresh(dir.path());
    c.rasa_telemetry_enabled = Some("false".into());
    resolve_consent(&c, true);
    assert!(
        !config_path(&c).exists(),
        "no file when opted out by RASA_TELEMETRY_ENABLED"
    );
}

#[test]
fn rasa_telemetry_enabled_true_falls_through_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = with_file(dir.path(), false);
    c.rasa_telemetry_enabled = Some("true".into());
    let r = resolve_consent(&c, true);
    assert!(!r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::ConfigFile { .. }));
}

#[test]
fn an_opt_out_is_never_overridden_by_an_opt_in_further_down() {
    // DO_NOT_TRACK beats RUSA_TELEMETRY_ENABLED=true.
    let dir = tempfile::tempdir().unwrap();
    let mut c = with_file(dir.path(), true);
    c.do_not_track = Some("1".into());
    c.rusa_telemetry_enabled = Some("true".into());
    assert!(!resolve_consent(&c, true).consent.enabled);
    // RUSA_TELEMETRY_ENABLED=false beats a file saying true.
    let mut c = with_file(tempfile::tempdir().unwrap().path(), true);
    c.rusa_telemetry_enabled = Some("false".into());
    assert!(!resolve_consent(&c, true).consent.enabled);
    // RASA_TELEMETRY_ENABLED=false beats a file saying true.
    let dir = tempfile::tempdir().unwrap();
    let mut c = with_file(dir.path(), true);
    c.rasa_telemetry_enabled = Some("false".into());
    assert!(!resolve_consent(&c, true).consent.enabled);
}

#[test]
fn the_file_decides_when_no_variable_does() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_file(dir.path(), false);
    let r = resolve_consent(&c, true);
    assert!(!r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::ConfigFile { .. }));
    rusa_telemetry::enable(&c).unwrap();
    assert!(resolve_consent(&c, true).consent.enabled);
}

#[test]
fn first_run_writes_the_file_once_with_mode_0600_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = fresh(dir.path());
    let first = resolve_consent(&c, true);
    assert!(matches!(first.consent.rule, Rule::FirstRun { .. }));
    assert!(first.consent.enabled && !first.consent.may_send_this_run());
    let global = read_global(config_path(&c)).unwrap().unwrap();
    assert!(global.enabled);
    assert_eq!(global.rusa_user_id.len(), 32);
    assert!(
        global
            .rusa_user_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(global.hash_key.len(), 64);
    assert!(global.date.ends_with('Z'), "{}", global.date);
    let mode = std::fs::metadata(config_path(&c))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let second = resolve_consent(&c, true);
    assert!(
        matches!(second.consent.rule, Rule::ConfigFile { .. }),
        "the notice run happens once"
    );
    assert!(second.consent.may_send_this_run());
    assert_eq!(second.global.unwrap().rusa_user_id, global.rusa_user_id);
}

#[test]
fn status_like_reads_never_create_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = fresh(dir.path());
    let r = resolve_consent(&c, false);
    assert!(!r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::NoConfigYet { .. }));
    assert!(!config_path(&c).exists());
}

#[test]
fn an_unwritable_directory_turns_telemetry_off_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the config directory should be: unwritable even for root.
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let mut c = fresh(dir.path());
    c.config_file = Some(dir.path().join("blocked/rusa/global.yml"));
    let r = resolve_consent(&c, true);
    assert!(!r.consent.enabled);
    assert!(
        matches!(r.consent.rule, Rule::Unwritable { .. }),
        "{:?}",
        r.consent.rule
    );
    assert!(r.warning.is_none(), "no warning on every run");
    let t = Telemetry::start(c);
    assert_eq!(t.mode(), rusa_telemetry::Mode::Off);
}

#[test]
fn no_home_means_off() {
    let c = TelemetryConfig::from_lookup(|_| None);
    let r = resolve_consent(&c, true);
    assert!(!r.consent.enabled);
    assert!(matches!(
        r.consent.rule,
        Rule::Unwritable { path: None, .. }
    ));
}

#[test]
fn a_corrupt_file_turns_telemetry_off_with_one_warning_and_is_not_replaced() {
    for content in [
        "metrics: [unclosed",
        "metrics:\n  enabled: yes\n",
        "just text",
        "\u{0}\u{1}binary",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let c = fresh(dir.path());
        std::fs::create_dir_all(config_path(&c).parent().unwrap()).unwrap();
        std::fs::write(config_path(&c), content).unwrap();
        let r = resolve_consent(&c, true);
        assert!(!r.consent.enabled, "{content:?}");
        assert!(
            matches!(r.consent.rule, Rule::CorruptConfig { .. }),
            "{content:?}: {:?}",
            r.consent.rule
        );
        let warning = r.warning.expect("a warning");
        assert!(
            warning.contains(&config_path(&c).display().to_string()),
            "{warning}"
        );
        assert!(
            warning.contains("rusa telemetry enable") && warning.contains("disable"),
            "{warning}"
        );
        drop(Telemetry::start(c.clone()));
        assert_eq!(
            std::fs::read_to_string(config_path(&c)).unwrap(),
            content,
            "the file was replaced"
        );
    }
}

#[test]
fn enable_or_disable_rewrites_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = fresh(dir.path());
    std::fs::create_dir_all(config_path(&c).parent().unwrap()).unwrap();
    std::fs::write(config_path(&c), "metrics: [").unwrap();
    rusa_telemetry::disable(&c, std::time::Duration::ZERO).unwrap();
    assert!(!read_global(config_path(&c)).unwrap().unwrap().enabled);
}

#[test]
fn concurrent_first_runs_agree_on_one_id() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let c = fresh(dir.path());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                let barrier = std::sync::Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    resolve_consent(&c, true)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ids: std::collections::HashSet<String> = results
            .iter()
            .map(|r| r.global.as_ref().unwrap().rusa_user_id.clone())
            .collect();
        assert_eq!(ids.len(), 1, "two ids were created");
        let first_runs = results
            .iter()
            .filter(|r| matches!(r.consent.rule, Rule::FirstRun { .. }))
            .count();
        assert_eq!(first_runs, 1, "the notice must show exactly once");
        let on_disk = read_global(config_path(&c)).unwrap().unwrap().rusa_user_id;
        assert!(ids.contains(&on_disk));
    }
}

#[test]
fn toggling_keeps_the_id_and_reset_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_file(dir.path(), true);
    let before = read_global(config_path(&c)).unwrap().unwrap();
    rusa_telemetry::disable(&c, std::time::Duration::ZERO).unwrap();
    rusa_telemetry::enable(&c).unwrap();
    let toggled = read_global(config_path(&c)).unwrap().unwrap();
    assert_eq!(toggled.rusa_user_id, before.rusa_user_id);
    assert_eq!(toggled.hash_key, before.hash_key);
    assert!(rusa_telemetry::reset(&c).unwrap());
    let after = read_global(config_path(&c)).unwrap().unwrap();
    assert_ne!(after.rusa_user_id, before.rusa_user_id);
    assert_ne!(after.hash_key, before.hash_key);
    assert!(after.enabled);
}

#[test]
fn rasa_telemetry_disable_opts_out_of_rusa_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_file(dir.path(), true);
    let rasa = config.rasa_config_file.clone().expect("HOME is set");
    std::fs::create_dir_all(rasa.parent().unwrap()).unwrap();
    std::fs::write(
        &rasa,
        "metrics:\n  enabled: false\n  rasa_user_id: 0123456789abcdef0123456789abcdef\n  date: 2024-01-01 10:00:00.000000+00:00\n",
    )
    .unwrap();
    let resolved = resolve_consent(&config, true);
    assert!(!resolved.consent.enabled);
    assert!(matches!(resolved.consent.rule, Rule::RasaConfigFile { .. }));
    // Rasa's telemetry enabled: rusa's own file decides again.
    std::fs::write(&rasa, "metrics:\n  enabled: true\n").unwrap();
    assert!(resolve_consent(&config, true).consent.enabled);
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A FIFO, a device or a directory where global.yml should be: telemetry is off for the
/// run, nothing is read from it (a FIFO without a writer would block a plain read for ever)
/// and nothing replaces it.
#[test]
fn a_global_yml_that_is_not_a_regular_file_turns_telemetry_off_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    type MakeFile = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, MakeFile)> = vec![
        ("fifo", Box::new(mkfifo)),
        (
            "device",
            Box::new(|p: &Path| {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink("/dev/zero", p).unwrap();
            }),
        ),
        (
            "directory",
            Box::new(|p: &Path| std::fs::create_dir_all(p).unwrap()),
        ),
    ];
    for (name, make) in cases {
        let c = fresh(&dir.path().join(name));
        make(config_path(&c));
        let kind_before = std::fs::metadata(config_path(&c)).unwrap().file_type();
        for create in [true, false] {
            let r = resolve_consent(&c, create);
            assert!(!r.consent.enabled, "{name}");
            match &r.consent.rule {
                Rule::Unwritable { reason, .. } => {
                    assert!(reason.contains("not a regular file"), "{name}: {reason}")
                }
                other => panic!("{name}: {other:?}"),
            }
            assert!(r.warning.is_none(), "{name}: no warning on every run");
        }
        assert!(
            matches!(
                read_global(config_path(&c)),
                Err(rusa_telemetry::TelemetryError::NotRegularFile { .. })
            ),
            "{name}"
        );
        let t = Telemetry::start(c.clone());
        assert_eq!(t.mode(), rusa_telemetry::Mode::Off, "{name}");
        drop(t);
        let kind_after = std::fs::metadata(config_path(&c)).unwrap().file_type();
        assert_eq!(kind_before, kind_after, "{name} left in place");
    }
}

/// Rasa's global.yml is read too (for its opt-out); a FIFO there must not hang either.
#[test]
fn a_fifo_as_rasa_global_yml_is_not_an_opt_out_and_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = with_file(dir.path(), true);
    let rasa = dir.path().join("rasa/global.yml");
    mkfifo(&rasa);
    c.rasa_config_file = Some(rasa);
    let r = resolve_consent(&c, true);
    assert!(r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::ConfigFile { .. }));
}

/// Another process holds `global.yml.lock`: a first run gives up after a bounded wait with
/// telemetry off for that run and no file written (writing without the lock could create
/// two ids); an existing global.yml is read without the lock; once the lock is free, the
/// first run happens as usual.
#[test]
fn a_held_config_lock_is_waited_for_boundedly() {
    use fs4::fs_std::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let c = fresh(dir.path());
    let lock_path = config_path(&c).with_file_name("global.yml.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock_exclusive().unwrap();

    let r = resolve_consent(&c, true);
    assert!(!r.consent.enabled);
    match &r.consent.rule {
        Rule::Unwritable { reason, .. } => {
            assert!(reason.contains("held by another process"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(r.warning.is_none());
    assert!(
        !config_path(&c).exists(),
        "nothing written without the lock"
    );
    let t = Telemetry::start(c.clone());
    assert_eq!(t.mode(), rusa_telemetry::Mode::Off);
    drop(t);
    // `rusa telemetry enable` reports the held lock instead of waiting on.
    let err = rusa_telemetry::enable(&c).unwrap_err();
    assert!(err.to_string().contains("held by another process"), "{err}");

    FileExt::unlock(&lock).unwrap();
    let r = resolve_consent(&c, true);
    assert!(
        matches!(r.consent.rule, Rule::FirstRun { .. }),
        "{:?}",
        r.consent.rule
    );

    // With the file in place, a held lock does not matter: reading takes no lock.
    lock.lock_exclusive().unwrap();
    let r = resolve_consent(&c, true);
    assert!(r.consent.enabled);
    assert!(matches!(r.consent.rule, Rule::ConfigFile { .. }));
    FileExt::unlock(&lock).unwrap();
}
