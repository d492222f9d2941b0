//! The part of a test config every daemon test shares.

use std::path::Path;

/// The start of a config for daemons that the current user runs in `dir`: hostname
/// `mail.test`, `data_dir` `dir/data`, `runtime_dir` `dir/run`, `localserve` as given,
/// and an `[authd]` section that lets the current user use every socket, with
/// `mail_store` as given and argon2 costs low enough for tests. The daemons' own
/// sections are appended to it.
pub fn base_config(dir: &Path, localserve: bool, mail_store: bool) -> String {
    let uid = nix::unistd::getuid().as_raw();
    format!(
        r#"hostname = "mail.test"
data_dir = "{data}"
runtime_dir = "{run}"
localserve = {localserve}

[authd]
user = {uid}
admin_users = [{uid}]
imap_callers = [{uid}]
submission_callers = [{uid}]
web_callers = [{uid}]
mail_store = {mail_store}
argon2_memory_kib = 256
argon2_iterations = 1
"#,
        data = dir.join("data").display(),
        run = dir.join("run").display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_config_loads() {
        let dir = std::env::temp_dir().join(format!("testkit-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("postern.toml");
        std::fs::write(&path, base_config(&dir, true, false)).unwrap();
        let config = postern_config::Config::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        let config = config.unwrap();
        assert_eq!(config.admin_socket(), dir.join("run/admin.sock"));
        assert_eq!(config.data_dir, dir.join("data"));
        assert!(config.localserve);
        assert!(!config.authd.mail_store);
        assert_eq!(config.authd.argon2_iterations, 1);
    }
}
