//! `rusa shell` and `rusa init` in a real pseudo-terminal, as a user types into them: the
//! shell's line editing and history (arrow keys edit and recall lines instead of sending
//! `^[[A`), and init's questions (where to create the project, and a warning before
//! writing into a directory that holds files).

mod common;

use std::path::Path;

use common::*;
use rexpect::session::PtySession;

/// Milliseconds a prompt may take to appear.
const TIMEOUT_MS: u64 = 60_000;

fn spawn(dir: &Path, args: &[&str]) -> PtySession {
    let mut cmd = rusa_in_terminal(dir);
    cmd.args(args);
    rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).unwrap()
}

/// Rasa's moodbot, trained into `dir/models`.
fn trained_moodbot(dir: &Path) {
    let moodbot = fixtures().join("moodbot");
    let path = |name: &str| moodbot.join(name).to_str().unwrap().to_owned();
    let trained = run(
        dir,
        &[
            "train",
            "--domain",
            &path("domain.yml"),
            "--data",
            &path("data"),
            "--config",
            &path("config.yml"),
        ],
    );
    assert_eq!(trained.code, 0, "{}", trained.stderr);
}

/// `rusa init` in `dir`, answering its first question (where) with `answer`.
fn init_answering(dir: &Path, answer: &str) -> PtySession {
    let mut p = spawn(dir, &["init"]);
    p.exp_string("Where should the project be created?")
        .unwrap();
    p.send_line(answer).unwrap();
    p
}

const UP: &str = "\x1b[A";
const LEFT: &str = "\x1b[D";
const BACKSPACE: &str = "\x7f";

#[test]
fn the_shell_edits_lines_and_recalls_them_with_the_arrow_keys() {
    let dir = tempfile::tempdir().unwrap();
    trained_moodbot(dir.path());
    let mut p = spawn(dir.path(), &["shell"]);
    p.exp_string("Your input -> ").unwrap();
    // A typo mended with backspace: moodbot's goodbye.
    p.send("bye!x").unwrap();
    p.send(BACKSPACE).unwrap();
    p.send_line("").unwrap();
    p.exp_string("Bye").unwrap();
    // A letter inserted in the middle of the line with the left arrow: "hello".
    p.exp_string("Your input -> ").unwrap();
    p.send("helo").unwrap();
    p.send(LEFT).unwrap();
    p.send("l").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Hey! How are you?").unwrap();
    // Up twice recalls "bye!" (not "^[[A" typed as text), and it is sent again.
    p.exp_string("Your input -> ").unwrap();
    p.send(UP).unwrap();
    p.send(UP).unwrap();
    p.flush().unwrap();
    let shown = p.exp_string("bye!").unwrap();
    assert!(
        !shown.contains("^[["),
        "the arrow key was echoed: {shown:?}"
    );
    p.send_line("").unwrap();
    p.exp_string("Bye").unwrap();
    p.exp_string("Your input -> ").unwrap();
    p.send_line("/stop").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn init_in_a_terminal_asks_where_and_warns_before_a_directory_with_files() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("notes");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("todo.txt"), "keep me\n").unwrap();

    // Declined: nothing is written.
    let mut p = init_answering(dir.path(), "notes");
    p.exp_string("is not empty").unwrap();
    p.exp_string("Continue? [Y/n]").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("No project was created.").unwrap();
    p.exp_eof().unwrap();
    assert!(!existing.join("domain.yml").exists());

    // Accepted: the project is written beside the file, which is kept.
    let mut p = init_answering(dir.path(), "notes");
    p.exp_string("Continue? [Y/n]").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Do you want to train an initial model? [Y/n]")
        .unwrap();
    p.send_line("n").unwrap();
    p.exp_string("Train it later with `cd notes`, then `rusa train`.")
        .unwrap();
    p.exp_eof().unwrap();
    assert!(existing.join("domain.yml").exists());
    assert_eq!(
        std::fs::read_to_string(existing.join("todo.txt")).unwrap(),
        "keep me\n"
    );

    // A new directory: no warning, the project is created there.
    let mut p = init_answering(dir.path(), "fresh bot");
    p.exp_string("Do you want to train an initial model? [Y/n]")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_string("Do you want to talk to your assistant on the command line? [Y/n]")
        .unwrap();
    p.send_line("n").unwrap();
    p.exp_string("cd 'fresh bot'").unwrap();
    p.exp_eof().unwrap();
    assert!(dir.path().join("fresh bot/domain.yml").exists());
    let models = std::fs::read_dir(dir.path().join("fresh bot/models")).unwrap();
    assert_eq!(models.count(), 1, "the initial model was trained");
}
