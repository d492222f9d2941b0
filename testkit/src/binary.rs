//! The workspace's binaries and examples, as the tests of another package need them
//! (cargo sets `CARGO_BIN_EXE_*` only for the package's own binaries).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Names of the targets this test process has built already.
static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The directory of the current build profile (`target/debug`), found from the running
/// test executable (`target/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", exe.display()))
        .to_path_buf()
}

/// The path of `binary` of workspace package `package` (`target/<profile>/<binary>`).
///
/// When the file is missing, or env `POSTERN_TEST_REBUILD` is set, it is built once per
/// test process with `cargo build -p <package> --bin <binary>`. An existing binary is
/// otherwise used as it is, so rebuild it (or set `POSTERN_TEST_REBUILD`) after changing
/// that package.
pub fn workspace_binary(package: &str, binary: &str) -> PathBuf {
    let path = target_dir().join(binary);
    let rebuild = std::env::var_os("POSTERN_TEST_REBUILD").is_some();
    build_once(package, &["--bin", binary], || rebuild || !path.exists());
    assert!(
        path.exists(),
        "{} missing after the build: run cargo build -p {package} --bin {binary}",
        path.display()
    );
    path
}

/// The path of example `example` of workspace package `package`
/// (`target/<profile>/examples/<example>`), built (or brought up to date) once per test
/// process: `cargo test --test X` does not build examples.
pub fn workspace_example(package: &str, example: &str) -> PathBuf {
    let path = target_dir().join("examples").join(example);
    build_once(package, &["--example", example], || true);
    assert!(
        path.exists(),
        "{} missing after the build: run cargo build -p {package} --example {example}",
        path.display()
    );
    path
}

/// Runs `cargo build -p <package> <target>` in the current profile, at most once per
/// test process for each target and only when `needed` says so; panics when cargo fails.
fn build_once(package: &str, target: &[&str], needed: impl FnOnce() -> bool) {
    let key = format!("{package} {}", target.join(" "));
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if built.contains(&key) || !needed() {
        return;
    }
    let profile_dir = target_dir();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "--profile", profile, "-p", package])
        .args(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| panic!("running {cargo}: {e}"));
    assert!(
        status.success(),
        "cargo build -p {package} {target:?}: {status}"
    );
    built.insert(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_holds_the_test_executable() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(target_dir().join("deps"), exe.parent().unwrap());
    }
}
