//! The example config the Debian package installs as /etc/postern/postern.toml
//! (`packaging/postern.toml`) loads with the real parser, holds the defaults, and
//! documents every option the schema has.

use std::path::{Path, PathBuf};

use postern_config::{Config, UserRef};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("packaging")
        .join("postern.toml")
}

#[test]
fn example_config_loads_and_holds_the_defaults() {
    let config = Config::load(&example_path()).expect("packaging/postern.toml must load");

    // The one value the admin has to change: a placeholder, not a real name.
    assert_eq!(config.hostname, "mail.example.org");
    // Everything else is what the schema defaults to, with the Debian paths the systemd
    // units use (StateDirectory=postern/authd, sockets in /run/postern).
    let expected = Config::new(
        "mail.example.org",
        Path::new("/var/lib/postern"),
        Path::new("/run/postern"),
    );
    assert_eq!(config, expected);

    // Spelled out, so that a changed default in the schema is noticed here too.
    assert_eq!(config.data_dir, Path::new("/var/lib/postern"));
    assert_eq!(config.runtime_dir, Path::new("/run/postern"));
    assert!(!config.localserve);
    assert!(!config.no_fix_permissions);
    assert_eq!(config.authd.user, UserRef::Name("postern-authd".into()));
    assert_eq!(config.authd.group, None);
    assert_eq!(
        config.authd.imap_callers,
        [UserRef::Name("postern-imapd".into())]
    );
    assert_eq!(
        config.authd.submission_callers,
        [UserRef::Name("postern-submitd".into())]
    );
    assert_eq!(
        config.authd.web_callers,
        [UserRef::Name("postern-webd".into())]
    );
    assert_eq!(config.authd.admin_users, [UserRef::Uid(0)]);
    assert_eq!(config.auth_socket(), Path::new("/run/postern/auth.sock"));
    assert_eq!(config.admin_socket(), Path::new("/run/postern/admin.sock"));
    assert_eq!(config.authd_dir(), Path::new("/var/lib/postern/authd"));
}

/// Every key of the schema appears in the example, set or commented out (`# key =`), so a
/// new option cannot be added without documenting it for admins.
#[test]
fn example_config_mentions_every_option() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mentioned = |key: &str| {
        text.lines().any(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };

    // The defaults serialised: every key that has a value. Optional keys whose default
    // is "absent" do not show up there and are listed by hand below.
    let mut config = Config::new("h", Path::new("/d"), Path::new("/r"));
    config.authd.group = Some(postern_config::GroupRef::Name("g".into()));
    let value: toml::Table = toml::from_str(&config.to_toml()).unwrap();
    let mut missing = Vec::new();
    for (key, item) in &value {
        match item {
            toml::Value::Table(section) => {
                check_section(&text, key, section, &mentioned, &mut missing);
            }
            _ => {
                if !mentioned(key) {
                    missing.push(key.clone());
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options not documented in packaging/postern.toml: {missing:?}"
    );
}

/// Checks that section `[name]` and each of its keys (and nested sections) appear.
fn check_section(
    text: &str,
    name: &str,
    section: &toml::Table,
    mentioned: &dyn Fn(&str) -> bool,
    missing: &mut Vec<String>,
) {
    assert!(
        text.lines().any(|l| l.trim() == format!("[{name}]")),
        "section [{name}] missing from packaging/postern.toml"
    );
    for (inner, value) in section {
        match value {
            toml::Value::Table(nested) => {
                check_section(text, &format!("{name}.{inner}"), nested, mentioned, missing)
            }
            _ if !mentioned(inner) => missing.push(format!("{name}.{inner}")),
            _ => {}
        }
    }
}
