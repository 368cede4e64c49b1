//! What `rusa --version` reports: the version, the commit and the toolchain it was built with.

/// The rusa version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `rusa --version --verbose` style text: version, commit, target, profile and compiler.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("RUSA_BUILD_COMMIT"),
    "\ntarget: ",
    env!("RUSA_BUILD_TARGET"),
    "\nprofile: ",
    env!("RUSA_BUILD_PROFILE"),
    "\ncompiler: ",
    env!("RUSA_BUILD_RUSTC"),
);
