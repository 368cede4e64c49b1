//! Writing to stdout without panicking when the reader goes away (`rusa ... | head`).

use std::io::Write;

/// Writes `text` to stdout; a broken pipe comes back as an `io::Error` the exit code mapper
/// treats as success.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
