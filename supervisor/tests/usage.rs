//! Command-line parsing as a user meets it: usage errors exit 2 with clap's message,
//! help exits 0.

mod common;

use common::postern;

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["account"],
        &["account", "add", "only-account"],
        &["account", "list", "extra"],
        &["account", "list", "--bogus"],
        &["address", "add", "a@example.org"],
        &["tlspubkey", "add", "alice", "alice@example.org"],
        &["tlspubkey", "rm"],
        &["loginattempts", "--all", "--limit", "3"],
        &["loginattempts", "--limit", "0"],
        &["loginattempts", "--limit", "many"],
        &["ratelimit", "clear", "not-an-ip"],
        &["localserve", "--dir"],
        &["--config"],
    ];
    for args in cases {
        let run = postern(args, None);
        run.usage_error();
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let run = postern(&["--help"], None);
    let text = run.ok();
    for command in [
        "account",
        "address",
        "tlspubkey",
        "loginattempts",
        "ratelimit",
        "localserve",
    ] {
        assert!(text.contains(command), "{command} missing from {text}");
    }
    let run = postern(&["account", "--help"], None);
    let text = run.ok();
    for sub in ["add", "rm", "list", "password", "disable", "enable"] {
        assert!(text.contains(sub), "{sub} missing from {text}");
    }
    assert!(postern(&["--version"], None).ok().starts_with("postern "));
}
