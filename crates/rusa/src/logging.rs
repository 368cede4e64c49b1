//! Installs the `tracing` subscriber: logs to stderr (and, for `rusa run --log-file`, to a
//! file too), filter from the flags or `RUST_LOG`.

use std::io::IsTerminal;
use std::path::Path;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogArgs;

/// `-v` → info, `--debug` → debug, `--quiet` → error, else warn; `RUST_LOG` overrides all.
/// With `log_file`, the same lines are appended to it (with time stamps, no colours); a
/// file that cannot be opened is an error the caller reports.
///
/// With `otel`, rusa's spans also go to that tracing pipeline (its layer has its own filter).
pub fn init(
    args: LogArgs,
    log_file: Option<&Path>,
    otel: Option<&rusa_otel::Pipeline>,
) -> std::io::Result<()> {
    let default = if args.debug {
        "debug"
    } else if args.verbose {
        "info"
    } else if args.quiet {
        "error"
    } else {
        "warn"
    };
    // Exception events are for the tracing back end; the failure has its own log line.
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(default))
            .add_directive(
                format!("{}=off", rusa_core::span_status::EXCEPTION_TARGET)
                    .parse()
                    .expect("a valid directive"),
            )
    };
    let dispatch = DispatchCell::default();
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(Line {
            time: false,
            target: args.debug,
            dispatch: dispatch.clone(),
        })
        .with_filter(filter());
    let file = match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .event_format(Line {
                        time: true,
                        target: args.debug,
                        dispatch: dispatch.clone(),
                    })
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    let subscriber = tracing_subscriber::registry()
        .with(otel.map(|p| p.layer()))
        .with(stderr)
        .with(file);
    let subscriber = tracing::Dispatch::new(subscriber);
    let _ = dispatch.0.set(subscriber.downgrade());
    let _ = subscriber.try_init();
    Ok(())
}

/// The subscriber a [`Line`] belongs to, set once it exists (weak: the subscriber owns the
/// line). Debug lines look up their span's trace and span id through it.
#[derive(Clone, Default)]
struct DispatchCell(std::sync::Arc<std::sync::OnceLock<tracing::dispatcher::WeakDispatch>>);

/// One log line: `[time] LEVEL span:span: message key=value…`. The fields of the enclosing
/// spans are written only on debug and trace lines: a turn's spans carry the sender id and
/// the message id (they are span attributes for the tracing back end), and no line above
/// debug level may name a user. Event fields are written as they are.
struct Line {
    time: bool,
    target: bool,
    dispatch: DispatchCell,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let ansi = writer.has_ansi_escapes();
        if self.time {
            SystemTime.format_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        let level = *meta.level();
        let (colour, name) = match level {
            Level::ERROR => ("31", "ERROR"),
            Level::WARN => ("33", " WARN"),
            Level::INFO => ("32", " INFO"),
            Level::DEBUG => ("34", "DEBUG"),
            Level::TRACE => ("35", "TRACE"),
        };
        if ansi {
            write!(writer, "\x1b[{colour}m{name}\x1b[0m ")?;
        } else {
            write!(writer, "{name} ")?;
        }
        let with_span_fields = level >= Level::DEBUG;
        let mut innermost = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                innermost = Some(span.id());
                writer.write_str(span.name())?;
                if with_span_fields {
                    let extensions = span.extensions();
                    if let Some(fields) = extensions.get::<FormattedFields<N>>()
                        && !fields.is_empty()
                    {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        // Debug lines name the trace and span they were written in, so that logs and traces
        // meet (nothing when tracing is off).
        if with_span_fields
            && let Some(id) = &innermost
            && let Some(dispatch) = self.dispatch.0.get().and_then(|d| d.upgrade())
            && let Some((trace_id, span_id)) = rusa_otel::propagation::log_ids(id, &dispatch)
        {
            write!(writer, "trace_id={trace_id} span_id={span_id} ")?;
        }
        if self.target {
            write!(writer, "{}: ", meta.target())?;
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `body` logs through a subscriber with [`Line`] at `filter`.
    fn logged(filter: &str, body: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .event_format(Line {
                    time: false,
                    target: false,
                    dispatch: DispatchCell::default(),
                })
                .with_filter(EnvFilter::new(filter)),
        );
        tracing::subscriber::with_default(subscriber, body);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    fn turn() {
        let span = tracing::info_span!("Agent.handle_message", sender_id = "secret-alice");
        let _entered = span.enter();
        let inner = tracing::info_span!("MessageProcessor._run_action", message_id = "m-42");
        let _inner = inner.enter();
        tracing::warn!(
            action = "action_x",
            "the action server did not run the action"
        );
        tracing::debug!("asked the action server");
    }

    #[test]
    fn lines_above_debug_name_spans_without_their_fields() {
        let text = logged("info", turn);
        assert_eq!(
            text,
            " WARN Agent.handle_message:MessageProcessor._run_action: the action server did not run the action action=\"action_x\"\n"
        );
        assert!(!text.contains("secret-alice") && !text.contains("m-42"));
    }

    #[test]
    fn debug_lines_carry_the_trace_and_span_id_when_traced() {
        let memory = rusa_otel::testing::InMemory::new();
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let cell = DispatchCell::default();
        let subscriber = tracing_subscriber::registry().with(memory.layer()).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .event_format(Line {
                    time: false,
                    target: false,
                    dispatch: cell.clone(),
                })
                .with_filter(EnvFilter::new("debug")),
        );
        let dispatch = tracing::Dispatch::new(subscriber);
        let _ = cell.0.set(dispatch.downgrade());
        tracing::dispatcher::with_default(&dispatch, turn);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        memory.flush();
        let spans = memory.spans();
        let inner = spans
            .iter()
            .find(|s| s.name == "MessageProcessor._run_action")
            .unwrap();
        let ids = format!(
            "trace_id={} span_id={}",
            inner.span_context.trace_id(),
            inner.span_context.span_id()
        );
        let mut lines = text.lines();
        let (warn, debug) = (lines.next().unwrap(), lines.next().unwrap());
        assert!(debug.contains(&ids), "{text}");
        // Above debug, lines stay as they were.
        assert!(!warn.contains("trace_id="), "{text}");
    }

    #[test]
    fn debug_lines_show_span_fields() {
        let text = logged("debug", turn);
        let debug = text.lines().nth(1).unwrap();
        assert!(
            debug.starts_with("DEBUG Agent.handle_message{sender_id=\"secret-alice\"}:MessageProcessor._run_action{message_id=\"m-42\"}: asked"),
            "{text}"
        );
        // The warning of the same turn still does not.
        assert!(
            !text.lines().next().unwrap().contains("secret-alice"),
            "{text}"
        );
    }
}
