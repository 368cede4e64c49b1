//! A `tracing` layer that records every span — name, parent and fields — so tests (and
//! debugging sessions) can check the span tree a piece of work produces.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// One recorded span.
#[derive(Debug, Clone)]
pub struct CapturedSpan {
    pub name: String,
    /// The name of the parent span.
    pub parent: Option<String>,
    /// Field values as text (strings without quotes), including those recorded later.
    pub fields: BTreeMap<String, String>,
}

/// The layer; clones share what was recorded.
#[derive(Debug, Default, Clone)]
pub struct SpanCapture(Arc<Mutex<Vec<(u64, CapturedSpan)>>>);

impl SpanCapture {
    /// The spans recorded so far, in creation order.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanCapture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        if let Ok(mut spans) = self.0.lock() {
            spans.push((
                id.into_u64(),
                CapturedSpan {
                    name: attrs.metadata().name().to_owned(),
                    parent,
                    fields,
                },
            ));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Ok(mut spans) = self.0.lock()
            && let Some((_, span)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64())
        {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}
