//! The server over a real socket, where it does better than rasa-sdk: an action that blocks
//! holds up only its own request; one that panics fails only its own request; stopping
//! lets the requests in flight finish; HTTPS from a certificate and key; CORS as `--cors`
//! says.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusa_sdk::serde_json::{Value, json};
use rusa_sdk::{Action, ActionError, ActionServer, Dispatcher, Domain, Event, Tracker, serve};
use rustls::pki_types::pem::PemObject as _;

/// Blocks its thread (as synchronous code does) until the test lets it go.
struct Blocking {
    release: Arc<Mutex<mpsc::Receiver<()>>>,
    started: mpsc::SyncSender<()>,
}

#[rusa_sdk::async_trait]
impl Action for Blocking {
    fn name(&self) -> &str {
        "action_blocking"
    }
    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        let _ = self.started.send(());
        let release = self.release.lock().unwrap();
        // A synchronous wait: it blocks the thread the action runs on.
        release
            .recv_timeout(Duration::from_secs(60))
            .map_err(ActionError::failed)?;
        dispatcher.utter_text("done waiting");
        Ok(vec![])
    }
}

struct Quick;

#[rusa_sdk::async_trait]
impl Action for Quick {
    fn name(&self) -> &str {
        "action_quick"
    }
    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        dispatcher.utter_text("quick");
        Ok(vec![])
    }
}

struct Panics;

#[rusa_sdk::async_trait]
impl Action for Panics {
    fn name(&self) -> &str {
        "action_panics"
    }
    async fn run(
        &self,
        _dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        let list: Vec<u8> = Vec::new();
        // An index out of bounds: a bug in the action's code.
        let _ = list[usize::from(list.is_empty())];
        Ok(vec![])
    }
}

fn body(action: &str) -> String {
    json!({
        "next_action": action,
        "tracker": {"sender_id": "u1", "latest_message": {"text": "secret words"}},
        "domain": {"intents": ["greet"]},
    })
    .to_string()
}

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(server: ActionServer, tls: Option<&rusa_otel::testing::TestCa>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let tls_config = tls.map(|ca| {
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &ca.server_cert_pem).unwrap();
        std::fs::write(&key, &ca.server_key_pem).unwrap();
        serve::tls_config(&cert, &key).unwrap()
    });
    let listener = serve::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = server.router().unwrap();
    let done = tokio::spawn(serve::serve(listener, app, tls_config, async {
        let _ = stopped.await;
    }));
    Running {
        base: format!("{scheme}://localhost:{port}"),
        stop: Some(stop),
        done,
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn webhook(client: &reqwest::Client, base: &str, action: &str) -> (u16, Value) {
    let response = client
        .post(format!("{base}/webhook"))
        .body(body(action))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn blocking() -> (Blocking, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release_tx, release_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::sync_channel(8);
    (
        Blocking {
            release: Arc::new(Mutex::new(release_rx)),
            started: started_tx,
        },
        release_tx,
        started_rx,
    )
}

/// Waits (off the runtime) for the blocking action to have started.
async fn wait_started(started: mpsc::Receiver<()>) -> mpsc::Receiver<()> {
    tokio::task::spawn_blocking(move || {
        started
            .recv_timeout(Duration::from_secs(30))
            .expect("the blocking action started");
        started
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_action_holds_up_only_its_own_request() {
    let (action, release, started) = blocking();
    let running = start(ActionServer::new().action(action).action(Quick), None).await;
    let client = client();
    // Two blocking calls at once, on a runtime with a single worker thread.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (client, base) = (client.clone(), running.base.clone());
            tokio::spawn(async move { webhook(&client, &base, "action_blocking").await })
        })
        .collect();
    let started = wait_started(started).await;
    let _started = wait_started(started).await;
    // Both block their threads; other requests are answered meanwhile.
    for _ in 0..5 {
        let (status, body) = webhook(&client, &running.base, "action_quick").await;
        assert_eq!(status, 200);
        assert_eq!(body["responses"][0]["text"], "quick");
    }
    let health = client
        .get(format!("{}/health", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    release.send(()).unwrap();
    release.send(()).unwrap();
    for call in slow {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["responses"][0]["text"], "done waiting");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_action_fails_only_its_own_request_and_echoes_nothing() {
    let running = start(ActionServer::new().action(Panics).action(Quick), None).await;
    let client = client();
    let (status, body) = webhook(&client, &running.base, "action_panics").await;
    assert_eq!(status, 500);
    assert_eq!(body["action_name"], "action_panics");
    let text = body.to_string();
    assert!(
        !text.contains("secret words") && !text.contains("tracker"),
        "{text}"
    );
    let (status, _) = webhook(&client, &running.base, "action_quick").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_the_requests_in_flight_finish() {
    let (action, release, started) = blocking();
    let mut running = start(ActionServer::new().action(action), None).await;
    let client = client();
    let in_flight = {
        let (client, base) = (client.clone(), running.base.clone());
        tokio::spawn(async move { webhook(&client, &base, "action_blocking").await })
    };
    let _started = wait_started(started).await;
    running.stop.take().unwrap().send(()).unwrap();
    // Stopping: no new connections are accepted...
    let mut refused = false;
    for _ in 0..100 {
        let fresh = self::client();
        if fresh
            .get(format!("{}/health", running.base))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the stopping server still accepted new connections"
    );
    // ...but the request in flight is answered, and then the server ends.
    release.send(()).unwrap();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["responses"][0]["text"], "done waiting");
    running.done.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_from_a_certificate_and_key() {
    let ca = rusa_otel::testing::TestCa::new();
    let running = start(ActionServer::new().action(Quick), Some(&ca)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            rustls::pki_types::CertificateDer::from_pem_slice(ca.ca_pem.as_bytes())
                .expect("the CA certificate"),
        )
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let (status, body) = webhook(&client, &running.base, "action_quick").await;
    assert_eq!(status, 200, "{body}");
    // Plain HTTP on the HTTPS port gets no answer.
    let plain = running.base.replace("https://", "http://");
    assert!(client.get(format!("{plain}/health")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_follow_the_allowed_origins() {
    let running = start(
        ActionServer::new()
            .action(Quick)
            .cors(vec!["https://*.example.com".into()]),
        None,
    )
    .await;
    let client = client();
    let allowed = client
        .get(format!("{}/health", running.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(allowed.headers()["vary"], "Origin");
    let other = client
        .get(format!("{}/health", running.base))
        .header("origin", "https://evil.org")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/webhook", running.base),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "X-Trace, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type, x-trace"
    );
    assert!(preflight.bytes().await.unwrap().is_empty());
}
