//! Tuning knobs shared by [`Replica`](crate::Replica) and [`WaitGroup`](crate::WaitGroup).

use std::time::Duration;

/// Timeouts, retries and backoff. The defaults suit a cluster on a LAN; every field can be
/// changed on a `Default` value:
///
/// ```
/// use std::time::Duration;
/// let mut options = pushpull_etcd::Options::default();
/// options.request_timeout = Duration::from_secs(2);
/// assert_eq!(options.max_push_attempts, 64);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// How long one request to etcd may take before the bridge gives up on it (a timed-out
    /// compare-and-put is one whose outcome is unknown: see the crate docs). Default 5 s.
    pub request_timeout: Duration,
    /// The whole budget of one push: its conflict retries, and the retries of a request whose
    /// connection failed (etcd restarting, a leader election). Default 30 s.
    pub push_timeout: Duration,
    /// How many compare-and-put attempts a [`push`](crate::Replica::push) makes before
    /// [`Error::Contention`](crate::Error::Contention). Default 64.
    pub max_push_attempts: u32,
    /// The first delay before a retry after an error, doubled at each failure in a row
    /// (with jitter) up to [`retry_max`](Self::retry_max). Default 10 ms.
    pub retry_min: Duration,
    /// The longest delay between retries: how soon after etcd comes back a replica notices.
    /// Default 250 ms.
    pub retry_max: Duration,
    /// A watch that has delivered nothing for this long is asked for progress; if it stays
    /// silent for as long again, it is taken for dead and re-created (a connection that
    /// black-holes instead of failing). Default 5 s.
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_timeout: Duration::from_secs(5),
            push_timeout: Duration::from_secs(30),
            max_push_attempts: 64,
            retry_min: Duration::from_millis(10),
            retry_max: Duration::from_millis(250),
            heartbeat: Duration::from_secs(5),
        }
    }
}
