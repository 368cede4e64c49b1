//! Records build information for `rusa --version`: the compiler, the target and the commit.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown version)".to_owned());
    println!("cargo:rustc-env=RUSA_BUILD_RUSTC={rustc_version}");

    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=RUSA_BUILD_TARGET={target}");

    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=RUSA_BUILD_PROFILE={profile}");

    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RUSA_BUILD_COMMIT={commit}");
    // Rebuild when HEAD moves, so the commit in --version stays true.
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
