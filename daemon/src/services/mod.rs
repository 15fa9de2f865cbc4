//! What the command line, the HTTP surfaces and the jobs share: the sync and its run ledger,
//! imports, the workflow, audit, the provider's wiring, the targets orgid keeps equal to its
//! decisions, and the daemon's metrics. Services call the library crates; they never print to a
//! terminal nor answer HTTP (the `out` writers some take are the report of a command or a job).

pub mod alerts;
pub mod audit;
pub mod backup;
pub mod channels;
pub mod idp;
pub mod import;
pub mod ledger;
pub mod metrics;
pub mod notices;
pub mod parts;
pub mod reload;
pub mod run;
pub mod sync;
pub mod targets;
pub mod workflow;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::app::App;
use metrics::Metrics;

/// The state of a running daemon that the HTTP surfaces and the jobs share.
#[derive(Clone)]
pub struct Shared {
    /// The app in force: replaced whole by a reload (SIGHUP), so a job sees the old or the new
    /// configuration, never a mix.
    live: Arc<tokio::sync::watch::Sender<Arc<App>>>,
    pub metrics: Arc<Metrics>,
    /// Whether this replica holds the leader lease and so runs the scheduled jobs.
    pub leader: Arc<AtomicBool>,
}

impl Shared {
    pub fn new(app: App) -> Shared {
        Shared {
            live: Arc::new(tokio::sync::watch::Sender::new(Arc::new(app))),
            metrics: Arc::new(Metrics::default()),
            leader: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The app (and so the configuration) in force now.
    pub fn app(&self) -> Arc<App> {
        self.live.borrow().clone()
    }

    /// Told of every reload.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<Arc<App>> {
        self.live.subscribe()
    }

    /// Puts `app` in force (a reload).
    pub fn replace(&self, app: App) {
        self.live.send_replace(Arc::new(app));
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::SeqCst);
        self.metrics.set_leader(leader);
    }
}
