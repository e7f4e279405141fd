//! Application wiring: connect and migrate, bootstrap, load keys, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
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
use crate::http::rate_limit::{self, RateLimits};
use crate::http::{self, AppState};
use crate::keys::Keys;
use crate::password::PasswordHashing;

/// A bound, ready server; `run_until_stopped` serves until the signal fires.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    purge: crate::purge::PurgeConfig,
    connections: ConnectionConfig,
    audit_writer: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let issuer = config
            .issuer
            .clone()
            .unwrap_or_else(|| Issuer::for_listen_address(local_addr));
        let store = Store::connect(&config.database_url)
            .await
            .context("opening the database")?;
        let now = config.clock.now();
        let passwords = Arc::new(PasswordHashing::new(config.password_hashing));
        crate::bootstrap::ensure_bootstrapped(&store, &issuer, &config.bootstrap, &passwords, now)
            .await?;
        let keys = Keys::load(&store.signing_keys().await?)?;
        let (audit, audit_writer) = AuditQueue::start(store.clone());
        let state = AppState {
            store,
            keys: Arc::new(keys),
            issuer: Arc::new(issuer),
            clock: config.clock.clone(),
            audit,
            passwords,
            rate_limits: Arc::new(RateLimits::new(&config.rate_limits)),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        };
        Ok(Self {
            listener,
            local_addr,
            state,
            purge: config.purge,
            connections: config.connections,
            audit_writer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &Issuer {
        &self.state.issuer
    }

    /// The password-hashing bound this server runs under (tests fill it).
    pub fn password_hashing(&self) -> Arc<PasswordHashing> {
        self.state.passwords.clone()
    }

    /// Serves until `shutdown` completes, then finishes requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let purge = crate::purge::spawn(store.clone(), self.state.clock.clone(), self.purge);
        let pruner = rate_limit::spawn_pruner(
            self.state.rate_limits.clone(),
            std::time::Duration::from_secs(60),
        );
        let router = http::router(self.state);
        serve(self.listener, router, &self.connections, shutdown).await;
        pruner.abort();
        if let Some(purge) = purge {
            purge.abort();
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

/// The accept loop: HTTP/1.1 connections through hyper, at most
/// `max_connections` at once (the next `accept` waits for a permit, so
/// further clients wait in the listen backlog), each with hyper's
/// header-read timeout, which also ends a keep-alive connection left idle
/// that long. On `shutdown` it stops accepting, asks every connection to
/// finish its request in flight and close, and waits for them.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &ConnectionConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
