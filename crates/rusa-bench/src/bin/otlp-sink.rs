//! `otlp-sink`: an OTLP/HTTP receiver for benchmarks. It answers every `POST` with an empty
//! `ExportTraceServiceResponse` (200, no body) and counts requests and bytes, which
//! `GET /` prints. It decodes nothing, so that a benchmark measures rusa's exporting and
//! not the receiver. Prints its port on the first line of stdout.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn handle(
    counts: Arc<Counts>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() == Method::GET {
        let text = format!(
            "{} {}",
            counts.requests.load(Ordering::Relaxed),
            counts.bytes.load(Ordering::Relaxed)
        );
        return Ok(Response::new(Full::new(Bytes::from(text))));
    }
    let size = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len() as u64,
        Err(_) => 0,
    };
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(size, Ordering::Relaxed);
    let mut response = Response::new(Full::new(Bytes::new()));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?.port());
        let counts = Arc::new(Counts::default());
        loop {
            let (stream, _) = listener.accept().await?;
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let service = service_fn(move |r| handle(Arc::clone(&counts), r));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
