//! `WhitespaceTokenizer`: splits on whitespace and strips punctuation the way Rasa's does.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{Message, Token};
use crate::training::TrainingView;

/// Splits a text into tokens at whitespace, after removing punctuation at word edges and
/// between letters (`"don't"` → `don`, `t`), but keeping numbers (`10'000.00`), e-mail
/// addresses and URLs together, as Rasa's `WhitespaceTokenizer` does. Offsets are
/// character offsets into the original text; token texts keep their case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhitespaceTokenizer {}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_keep(c: char) -> bool {
    is_word(c) || matches!(c, '#' | '@' | '&')
}

fn is_url_char(c: char) -> bool {
    is_word(c) || "._~:/?#[]()@!$&*+,;=-".contains(c)
}

fn non_digit_non_space(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_numeric() && !c.is_whitespace())
}

impl WhitespaceTokenizer {
    /// The tokens of `text`.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        tokenize(text)
    }
}

impl NluComponent for WhitespaceTokenizer {
    fn name(&self) -> &'static str {
        "WhitespaceTokenizer"
    }

    fn train(&mut self, _data: &TrainingView, _seed: u64) -> Result<()> {
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        message.tokens = tokenize(&message.text);
    }

    fn annotates_training_data(&self) -> bool {
        true
    }
}

/// The tokens of `text` (see [`WhitespaceTokenizer`]).
pub fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut drop = vec![false; n];
    let at = |i: isize| -> Option<char> {
        if i < 0 || i as usize >= n {
            None
        } else {
            Some(chars[i as usize])
        }
    };
    // Runs of non-whitespace characters that are not word characters (nor # @ &).
    let mut i = 0;
    while i < n {
        if is_keep(chars[i]) || chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !is_keep(chars[i]) && !chars[i].is_whitespace() {
            i += 1;
        }
        let before = at(start as isize - 1);
        let after = at(i as isize);
        if after.is_none_or(char::is_whitespace) {
            // Punctuation before whitespace or the end.
            drop[start..i].iter_mut().for_each(|d| *d = true);
        } else if before.is_none_or(char::is_whitespace) {
            // Punctuation after whitespace or the start, unless it is a number's sign.
            let end = if after.is_some_and(char::is_numeric) {
                i - 1
            } else {
                i
            };
            drop[start..end].iter_mut().for_each(|d| *d = true);
        }
    }
    // Inside words: characters that belong neither to words nor to URLs, between letters.
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if is_url_char(c) || c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !is_url_char(chars[i]) && !chars[i].is_whitespace() {
            i += 1;
        }
        if non_digit_non_space(at(start as isize - 1)) && non_digit_non_space(at(i as isize)) {
            drop[start..i].iter_mut().for_each(|d| *d = true);
        }
    }
    let mut tokens = Vec::new();
    let mut current: Option<usize> = None;
    for idx in 0..=n {
        let boundary = idx == n || drop[idx] || chars[idx].is_whitespace();
        match (boundary, current) {
            (true, Some(start)) => {
                tokens.push(Token {
                    text: chars[start..idx].iter().collect(),
                    start,
                    end: idx,
                });
                current = None;
            }
            (false, None) => current = Some(idx),
            _ => {}
        }
    }
    if tokens.is_empty() {
        // Only punctuation: Rasa keeps the text itself as the one token.
        let first = chars.iter().position(|c| !c.is_whitespace());
        let last = chars.iter().rposition(|c| !c.is_whitespace());
        if let (Some(first), Some(last)) = (first, last) {
            tokens.push(Token {
                text: chars[first..=last].iter().collect(),
                start: first,
                end: last + 1,
            });
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(String, usize, usize)> {
        tokenize(text)
            .into_iter()
            .map(|t| (t.text, t.start, t.end))
            .collect()
    }

    #[test]
    fn moodbot_offsets() {
        assert_eq!(texts("hello"), [("hello".into(), 0, 5)]);
        assert_eq!(
            texts("I am sad"),
            [
                ("I".into(), 0, 1),
                ("am".into(), 2, 4),
                ("sad".into(), 5, 8)
            ]
        );
    }

    #[test]
    fn punctuation_is_stripped() {
        let t: Vec<String> = tokenize("Hi, are you a bot?!")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(t, ["Hi", "are", "you", "a", "bot"]);
        let t: Vec<String> = tokenize("I don't know")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(t, ["I", "don", "t", "know"]);
        let t: Vec<String> = tokenize("pay 10'000.00 to me@example.com or -5 now")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            t,
            [
                "pay",
                "10'000.00",
                "to",
                "me@example.com",
                "or",
                "-5",
                "now"
            ]
        );
        assert_eq!(texts("?!"), [("?!".into(), 0, 2)]);
        assert!(tokenize("   ").is_empty());
    }

    #[test]
    fn unicode_offsets_are_characters() {
        let text = "Größe in Köln, café ☕ ok";
        let tokens = tokenize(text);
        let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["Größe", "in", "Köln", "café", "ok"]);
        for t in &tokens {
            let slice: String = text.chars().skip(t.start).take(t.end - t.start).collect();
            assert_eq!(slice, t.text);
        }
        assert_eq!((tokens[2].start, tokens[2].end), (9, 13));
    }
}
