//! Application wiring: connect and migrate, bootstrap, load keys, bind, serve.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use grantor_store::Store;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::config::{Config, ConnectionConfig, Issuer};
use crate::flows::audit::AuditQueue;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::{self, ip_key, RateLimits};
use crate::http::{self, AppState};
use crate::keys::KeyRing;
use crate::password::PasswordHashing;
use crate::refresh_secret::RefreshSecrets;

/// A bound, ready server; `run_until_stopped` serves until the signal fires.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    purge: crate::purge::PurgeConfig,
    outbox: crate::outbox::OutboxConfig,
    connections: ConnectionConfig,
    signing_key_refresh: std::time::Duration,
    audit_writer: tokio::task::JoinHandle<()>,
    metrics_listener: Option<TcpListener>,
    /// `--tls-cert`/`--tls-key`: connections are accepted over TLS.
    tls: Option<Arc<crate::tls::Tls>>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = crate::metrics::bind(config.metrics_listen.as_deref()).await?;
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(
                crate::tls::Tls::load(files.clone()).map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let issuer = config
            .issuer
            .clone()
            .unwrap_or_else(|| Issuer::for_listen_address(local_addr, tls.is_some()));
        let store = Store::connect(&config.database_url)
            .await
            .context("opening the database")?;
        let now = config.clock.now();
        let passwords = Arc::new(PasswordHashing::new(config.password_hashing));
        crate::bootstrap::ensure_bootstrapped(&store, &issuer, &config.bootstrap, &passwords, now)
            .await?;
        crate::keys::ensure_next_keys(&store, now).await?;
        let keys = KeyRing::new(&store.signing_key_set().await?)?;
        let mac_key = store
            .refresh_token_mac_key(&RefreshSecrets::generate_key(), now)
            .await?;
        let refresh_secrets = RefreshSecrets::new(&mac_key);
        let (audit, audit_writer) = AuditQueue::start(store.clone());
        let rate_limits = Arc::new(RateLimits::new(&config.rate_limits));
        let metrics = Arc::new(crate::metrics::Metrics::new(
            metrics_listener.is_none(),
            &audit,
            &passwords,
            &rate_limits,
        ));
        store.observe_operations(metrics.clone());
        let state = AppState {
            store,
            keys: Arc::new(keys),
            refresh_secrets: Arc::new(refresh_secrets),
            issuer: Arc::new(issuer),
            clock: config.clock.clone(),
            audit,
            outbox: crate::outbox::Outbox::default(),
            passwords,
            rate_limits,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            metrics,
            require_dpop_nonce: config.require_dpop_nonce,
            par_lifetime_seconds: config.par_lifetime_seconds,
        };
        Ok(Self {
            listener,
            local_addr,
            state,
            purge: config.purge,
            outbox: config.outbox,
            connections: config.connections,
            signing_key_refresh: config.signing_key_refresh,
            audit_writer,
            metrics_listener,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &Issuer {
        &self.state.issuer
    }

    /// The separate metrics listener's address (`--metrics-listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The password-hashing bound this server runs under (tests fill it).
    pub fn password_hashing(&self) -> Arc<PasswordHashing> {
        self.state.passwords.clone()
    }

    /// Serves until `shutdown` completes, then finishes requests in flight.
    /// With TLS, SIGHUP reloads the certificate (from now on).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let hangups = self.tls.is_some().then(crate::tls::hangups);
        self.run(shutdown, hangups).await
    }

    /// [`Self::run_until_stopped`], answering the SIGHUPs `hangups` receives
    /// (`main` installs it before anything else): a TLS reload, or a line
    /// saying there is nothing to reload.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        hangups: Option<crate::tls::Hangups>,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let purge = crate::purge::spawn(
            store.clone(),
            self.state.clock.clone(),
            self.purge,
            self.state.metrics.clone(),
        );
        let (stop_metrics, metrics_stopping) = tokio::sync::oneshot::channel::<()>();
        let metrics = crate::metrics::spawn(
            self.state.clone(),
            self.metrics_listener,
            self.connections.header_read_timeout,
            async move {
                let _ = metrics_stopping.await;
            },
        );
        let outbox = crate::outbox::spawn(self.state.clone(), self.outbox);
        let pruner = rate_limit::spawn_pruner(
            self.state.rate_limits.clone(),
            std::time::Duration::from_secs(60),
        );
        let key_refresher = crate::keys::spawn_refresher(
            self.state.keys.clone(),
            store.clone(),
            self.signing_key_refresh,
        );
        let tls_reloader = hangups.map(|h| crate::tls::spawn_reloader(self.tls.clone(), h));
        let exempt = self.state.trusted_proxies.clone();
        let mut router = http::router(self.state);
        if self.tls.is_some() {
            // Only over TLS: browsers ignore it on plain HTTP, and behind a
            // TLS-terminating proxy the proxy decides. No includeSubDomains:
            // other hosts of the domain are not ours to promise.
            router = router.layer(
                tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                ),
            );
        }
        serve(
            self.listener,
            router,
            &self.connections,
            exempt,
            self.tls,
            shutdown,
        )
        .await;
        if let Some(reloader) = tls_reloader {
            reloader.abort();
        }
        pruner.abort();
        // The sampler first; then the metrics listener finishes its
        // requests and closes, so no connection keeps the state alive.
        metrics.sampler.abort();
        let _ = stop_metrics.send(());
        if let Some(listener) = metrics.listener {
            let _ = listener.await;
        }
        key_refresher.abort();
        if let Some(purge) = purge {
            purge.abort();
        }
        // Messages in flight keep their lease and are sent again after it.
        if let Some(outbox) = outbox {
            outbox.abort();
        }
        // The router and its state are gone: the audit writer drains its
        // queue and stops.
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.audit_writer)
            .await
            .is_err()
        {
            tracing::warn!("audit writer did not finish within 10 s");
        }
        store.close().await;
        Ok(())
    }
}

/// The largest unread request body after which the connection is still
/// offered for reuse: hyper drains one that has arrived (a refused form
/// post, a 429), where a larger one means closing.
const DRAINABLE_BODY_BYTES: u64 = 64 * 1024;

/// The accept loop: HTTP/1.1 connections through hyper, at most
/// `max_connections` at once (the next `accept` waits for a permit, so
/// further clients wait in the listen backlog), each with hyper's
/// header-read timeout, which also ends a keep-alive connection left idle
/// that long. With `tls`, each connection's handshake runs in its own task
/// and must finish within that same timeout. On `shutdown` it stops
/// accepting, asks every connection to finish its request in flight and
/// close, and waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &ConnectionConfig,
    exempt: Arc<TrustedProxies>,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = PerIpConnections::new(limits.max_connections_per_ip, exempt);
    let body_read_timeout = limits.body_read_timeout;
    let graceful = GracefulShutdown::new();
    // Set at shutdown: a TLS handshake still in progress is dropped then
    // (hyper's graceful shutdown only reaches connections it serves).
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little
                    // instead of spinning (a reset peer is not worth a pause).
                    if !is_connection_error(&e) {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        let Some(slot) = per_ip.admit(peer.ip()) else {
            tracing::info!(ip = %peer.ip(), "refused a connection: per-IP connection cap");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            // hyper drains a small unread body that already arrived and
            // keeps the connection; a large or chunked one it cannot.
            let drainable = parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|n| n <= DRAINABLE_BODY_BYTES);
            let body = DeadlineBody::new(body, body_read_timeout);
            let unread = body.unread.clone();
            let answer = router.clone().oneshot(hyper::Request::from_parts(
                parts,
                axum::body::Body::new(body),
            ));
            async move {
                let mut response = answer.await?;
                // Answered before a large body was read to its end (a 413,
                // a 401 before the body, a timeout): hyper closes the
                // connection after this response, so say so, lest the
                // client reuse it.
                if !drainable && unread.load(std::sync::atomic::Ordering::Acquire) {
                    response.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        let handshake_timeout = limits.header_read_timeout;
        let mut stop_signal = stop_signal.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
                    tokio::select! {
                        shaken = handshake => match shaken {
                            Ok(Ok(stream)) => {
                                let connection =
                                    builder.serve_connection(TokioIo::new(stream), service);
                                watcher.watch(connection).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, "TLS handshake failed: {e}");
                                Ok(())
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                Ok(())
                            }
                        },
                        () = async {
                            let _ = stop_signal.wait_for(|stopping| *stopping).await;
                        } => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
}

/// Connections held per client network (an IPv4 address or an IPv6 /64),
/// so that one host cannot take every slot of `max_connections`; reverse
/// proxies named in `--trusted-proxies` are exempt (they carry everyone).
struct PerIpConnections {
    max: usize,
    exempt: Arc<TrustedProxies>,
    held: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One admitted connection; gives its slot back when dropped.
struct ConnectionSlot {
    key: IpAddr,
    held: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

impl PerIpConnections {
    fn new(max: usize, exempt: Arc<TrustedProxies>) -> Self {
        Self {
            max,
            exempt,
            held: Arc::default(),
        }
    }

    /// A slot for a connection from `peer`, or `None` when its network is
    /// at the cap. Exempt peers get an empty slot.
    fn admit(&self, peer: IpAddr) -> Option<Option<ConnectionSlot>> {
        if self.exempt.contains(peer.to_canonical()) {
            return Some(None);
        }
        let key = ip_key(peer);
        let mut held = self.held.lock().ok()?;
        let count = held.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Some(ConnectionSlot {
            key,
            held: self.held.clone(),
        }))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            if let Some(count) = held.get_mut(&self.key) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&self.key);
                }
            }
        }
    }
}

/// A request body that must arrive whole within a deadline from the moment
/// its head was read: a client that trickles a body (one byte every few
/// seconds) cannot hold a connection and a request task for long. Past the
/// deadline the body errors, which the extractors answer with a 4xx.
/// `unread` is true while some of the body has not been read (a request
/// without one starts false).
struct DeadlineBody {
    inner: Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    unread: Arc<std::sync::atomic::AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: std::time::Duration) -> Self {
        use http_body::Body as _;
        let unread = Arc::new(std::sync::atomic::AtomicBool::new(!inner.is_end_stream()));
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            unread,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            if frame.is_none() || self.inner.is_end_stream() {
                self.unread
                    .store(false, std::sync::atomic::Ordering::Release);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
///
/// The handlers are installed when this function is called, not when the
/// future is first polled, so a signal that arrives while the server is still
/// starting is not lost to the default action (which would kill the process).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut term, mut int) = streams;
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
