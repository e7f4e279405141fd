//! Application wiring: connect and migrate, bootstrap, load keys, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use grantor_store::Store;
use tokio::net::TcpListener;

use crate::config::{Config, Issuer};
use crate::http::{self, AppState};
use crate::keys::Keys;

/// A bound, ready server; `run_until_stopped` serves until the signal fires.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
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
        crate::bootstrap::ensure_bootstrapped(&store, &issuer, &config.bootstrap, now).await?;
        let keys = Keys::load(&store.signing_keys().await?)?;
        let state = AppState {
            store,
            keys: Arc::new(keys),
            issuer: Arc::new(issuer),
            clock: config.clock.clone(),
        };
        Ok(Self {
            listener,
            local_addr,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn issuer(&self) -> &Issuer {
        &self.state.issuer
    }

    /// Serves until `shutdown` completes, then finishes requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let router = http::router(self.state);
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        store.close().await;
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
