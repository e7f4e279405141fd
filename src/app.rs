//! Application wiring: connect and migrate, bootstrap, load keys, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use grantor_store::Store;
use tokio::net::TcpListener;

use crate::config::{Config, Issuer};
use crate::flows::audit::AuditQueue;
use crate::http::{self, AppState};
use crate::keys::Keys;
use crate::password::PasswordHashing;

/// A bound, ready server; `run_until_stopped` serves until the signal fires.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    purge: crate::purge::PurgeConfig,
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
        };
        Ok(Self {
            listener,
            local_addr,
            state,
            purge: config.purge,
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
        let router = http::router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
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
        served
    }
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
