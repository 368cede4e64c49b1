//! The questions of an interactive learning session, asked on the terminal with line
//! editing and history (rustyline). Ctrl-C on any question stops the question and the
//! session shows its menu; Ctrl-D ends the session.
//!
//! A choice among several answers is a numbered list: type the number, or the answer
//! itself. A yes/no question takes y/yes/n/no, and enter means yes.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

/// Why a question got no answer.
#[derive(Debug)]
pub enum Stop {
    /// Ctrl-C: the session's menu opens.
    Interrupted,
    /// Ctrl-D or the end of input: the session ends.
    Eof,
    Io(anyhow::Error),
}

pub type Answer<T> = Result<T, Stop>;

/// The terminal: a line editor whose history holds the messages the user typed.
pub struct Terminal {
    editor: DefaultEditor,
}

impl Terminal {
    pub fn new() -> anyhow::Result<Self> {
        let editor = DefaultEditor::new()
            .map_err(|e| anyhow::anyhow!(e).context("cannot set up the line editor"))?;
        Ok(Self { editor })
    }

    fn read(&mut self, prompt: &str, initial: &str) -> Answer<String> {
        let line = if initial.is_empty() {
            self.editor.readline(prompt)
        } else {
            self.editor.readline_with_initial(prompt, (initial, ""))
        };
        match line {
            Ok(l) => Ok(l),
            Err(ReadlineError::Interrupted) => Err(Stop::Interrupted),
            Err(ReadlineError::Eof) => Err(Stop::Eof),
            Err(e) => Err(Stop::Io(
                anyhow::anyhow!(e).context("cannot read from the terminal"),
            )),
        }
    }

    /// The user's next message (kept in the history, so arrow-up brings it back).
    pub fn message(&mut self) -> Answer<String> {
        let line = self.read("Your input -> ", "")?;
        let text = line.trim().to_owned();
        if !text.is_empty() {
            let _ = self.editor.add_history_entry(text.as_str());
        }
        Ok(text)
    }

    /// A line of text, prefilled with `initial` (editable).
    pub fn text(&mut self, question: &str, initial: &str) -> Answer<String> {
        println!("? {question}");
        loop {
            let line = self.read("> ", initial)?;
            let t = line.trim();
            if !t.is_empty() {
                return Ok(t.to_owned());
            }
        }
    }

    /// A name: one word without spaces.
    pub fn name(&mut self, question: &str) -> Answer<String> {
        loop {
            let t = self.text(question, "")?;
            if t.contains(char::is_whitespace) {
                println!("A name cannot contain spaces.");
                continue;
            }
            return Ok(t);
        }
    }

    /// A yes/no question; enter means yes.
    pub fn confirm(&mut self, question: &str) -> Answer<bool> {
        loop {
            let line = self.read(&format!("? {question} (Y/n) "), "")?;
            match line.trim().to_ascii_lowercase().as_str() {
                "" | "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => println!("Please answer y or n."),
            }
        }
    }

    /// One of `choices`, by number or by its text; returns its index.
    pub fn select(&mut self, question: &str, choices: &[String]) -> Answer<usize> {
        println!("? {question}");
        for (i, c) in choices.iter().enumerate() {
            println!("  {:>2}) {c}", i + 1);
        }
        loop {
            let line = self.read("Choose a number -> ", "")?;
            let t = line.trim();
            if let Ok(n) = t.parse::<usize>()
                && (1..=choices.len()).contains(&n)
            {
                return Ok(n - 1);
            }
            if let Some(i) = choices
                .iter()
                .position(|c| c.split_whitespace().last() == Some(t) || c == t)
                && !t.is_empty()
            {
                return Ok(i);
            }
            println!("Type a number between 1 and {}.", choices.len());
        }
    }
}
