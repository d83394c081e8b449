//! How many connections a listener holds: at most `max_connections`, and at most
//! `max_per_address` from one client address, both below the process's open-file limit
//! (`plan_connection_caps`, after `raise_open_file_limit`). A connection without a request in
//! flight (keep-alive between requests, or one still sending its headers) is idle; when a cap is
//! reached, the idle connection that has waited longest is closed to make room, and only when
//! none is idle is the new connection turned away. A connection serving a request, or streaming
//! its answer, is never closed to make room.
//!
//! Counting happens at accept, before a byte is read, so a flood of connections that send
//! nothing cannot take the process's file descriptors (`accept: Too many open files`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Frame;

/// Connections a cap may be passed by while idle ones it asked to close are closing.
const SHED_SLACK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    pub max_connections: usize,
    pub max_per_address: usize,
}

/// The connections of one listener.
pub struct ConnectionTracker {
    /// The listener's name in log lines (`server`, `admin`, `gateway`).
    name: &'static str,
    caps: ConnectionCaps,
    state: Mutex<Open>,
    /// Connections turned away since the last warning (one warning per second at most).
    refused: AtomicU64,
    last_warning_ms: AtomicU64,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    slots: HashMap<u64, Arc<Slot>>,
    per_address: HashMap<IpAddr, usize>,
}

/// One open connection as the tracker sees it.
struct Slot {
    id: u64,
    address: IpAddr,
    in_flight: AtomicUsize,
    idle_since_ms: AtomicU64,
    shed_asked: AtomicBool,
    shed: tokio::sync::Notify,
}

/// Milliseconds since the first call: a monotonic stamp for "idle since".
fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl ConnectionTracker {
    pub fn new(name: &'static str, caps: ConnectionCaps) -> Arc<ConnectionTracker> {
        Arc::new(ConnectionTracker {
            name,
            caps,
            state: Mutex::default(),
            refused: AtomicU64::new(0),
            last_warning_ms: AtomicU64::new(0),
        })
    }

    pub fn caps(&self) -> ConnectionCaps {
        self.caps
    }

    /// Counts a connection just accepted from `address` (under its client network: an IPv6
    /// /64 is one client); `None` when it must be closed at once (a cap is reached and no
    /// connection that counts against it is idle).
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Connection> {
        let address = crate::client_network::client_network(address);
        let mut open = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from_address = open.per_address.get(&address).copied().unwrap_or(0);
        // Room made among the address's own connections is room made overall too.
        let mut room_made = false;
        if from_address >= self.caps.max_per_address {
            if !self.make_room(&mut open, Some(address), from_address) {
                drop(open);
                self.turned_away("from one address");
                return None;
            }
            room_made = true;
        }
        let total = open.slots.len();
        if total >= self.caps.max_connections + SHED_SLACK
            || (total >= self.caps.max_connections
                && !room_made
                && !self.make_room(&mut open, None, total))
        {
            drop(open);
            self.turned_away("in all");
            return None;
        }
        open.next_id += 1;
        let slot = Arc::new(Slot {
            id: open.next_id,
            address,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(monotonic_ms()),
            shed_asked: AtomicBool::new(false),
            shed: tokio::sync::Notify::new(),
        });
        open.slots.insert(slot.id, slot.clone());
        *open.per_address.entry(address).or_insert(0) += 1;
        Some(Connection {
            tracker: self.clone(),
            slot,
        })
    }

    /// Asks the longest-idle connection (of `address`, or of any) to close, and says whether the
    /// new one may be counted meanwhile: the connections asked may take a moment to close (or
    /// decline, having turned busy), so a cap is passed by at most `SHED_SLACK`.
    fn make_room(&self, open: &mut Open, address: Option<IpAddr>, count: usize) -> bool {
        let cap = match address {
            Some(_) => self.caps.max_per_address,
            None => self.caps.max_connections,
        };
        if count >= cap + SHED_SLACK {
            return false;
        }
        let idle = open
            .slots
            .values()
            .filter(|s| address.is_none_or(|a| s.address == a))
            .filter(|s| {
                s.in_flight.load(Ordering::Acquire) == 0 && !s.shed_asked.load(Ordering::Acquire)
            })
            .min_by_key(|s| s.idle_since_ms.load(Ordering::Relaxed));
        let Some(idle) = idle else {
            return false;
        };
        idle.shed_asked.store(true, Ordering::Release);
        idle.shed.notify_one();
        tracing::debug!(
            listener = self.name,
            "connection cap reached: the longest-idle connection is closed to make room"
        );
        true
    }

    fn turned_away(&self, which: &str) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = monotonic_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refused.store(0, Ordering::Relaxed);
            tracing::warn!(
                listener = self.name,
                refused,
                max_connections = self.caps.max_connections,
                max_connections_per_address = self.caps.max_per_address,
                "connections turned away: the cap {which} is reached, and no connection could be closed to make room (every one is busy, or already closing)"
            );
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slots
            .len()
    }

    fn release(&self, slot: &Slot) {
        let mut open = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if open.slots.remove(&slot.id).is_none() {
            return;
        }
        if let Some(n) = open.per_address.get_mut(&slot.address) {
            *n -= 1;
            if *n == 0 {
                open.per_address.remove(&slot.address);
            }
        }
    }
}

/// An admitted connection; dropping it gives its place back.
pub struct Connection {
    tracker: Arc<ConnectionTracker>,
    slot: Arc<Slot>,
}

impl Connection {
    /// Completes when the tracker asks this connection to close to make room, at a moment it
    /// has no request in flight. Poll it beside the connection, in the same task: requests start
    /// and end only while the connection is polled, so when this completes the connection is
    /// idle and may be dropped.
    pub async fn shed(&self) {
        loop {
            self.slot.shed.notified().await;
            if self.slot.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            // Busy again since it was chosen: it stays, and may be chosen later.
            self.slot.shed_asked.store(false, Ordering::Release);
        }
    }

    /// Marks a request in flight until the returned guard is dropped (with its answer's body).
    pub fn request_started(&self) -> InFlight {
        self.slot.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.slot.clone())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.tracker.release(&self.slot);
    }
}

/// A request in flight on a connection.
pub struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(monotonic_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request in flight until hyper has written it (and dropped it).
pub struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, in_flight: InFlight) -> TrackedBody<B> {
        TrackedBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B> hyper::body::Body for TrackedBody<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
pub fn raise_open_file_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given, which lives on this stack frame.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to the
            // hard one needs no privilege.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        // rlim_t is u64 on Linux, not on every Unix.
        #[allow(clippy::useless_conversion)]
        u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX)
    }
    #[cfg(not(unix))]
    {
        u64::MAX
    }
}

/// One listener's wish: its caps and the file descriptors each of its connections may use (two
/// for the gateway: the client's and the upstream's).
pub struct Wanted {
    pub name: &'static str,
    pub caps: ConnectionCaps,
    pub descriptors_per_connection: u64,
}

/// The caps the listeners get within `open_file_limit`, after `reserved` descriptors for
/// everything else (database connections, plugin libraries, logs, key fetches). When the wishes
/// do not fit, each listener's caps are scaled down by the same factor and a warning says so.
pub fn plan_connection_caps(
    open_file_limit: u64,
    reserved: u64,
    wanted: &[Wanted],
) -> Vec<ConnectionCaps> {
    let slack = SHED_SLACK as u64;
    let needed: u64 = wanted
        .iter()
        .map(|w| (w.caps.max_connections as u64 + slack) * w.descriptors_per_connection)
        .sum();
    let available = open_file_limit.saturating_sub(reserved);
    if needed <= available {
        return wanted.iter().map(|w| w.caps).collect();
    }
    let planned: Vec<ConnectionCaps> = wanted
        .iter()
        .map(|w| {
            let share = (w.caps.max_connections as u64 + slack) * w.descriptors_per_connection;
            let fits = (share as u128 * available as u128 / needed.max(1) as u128) as u64;
            let max_connections = (fits / w.descriptors_per_connection)
                .saturating_sub(slack)
                .max(1) as usize;
            ConnectionCaps {
                max_connections,
                max_per_address: w.caps.max_per_address.min(max_connections),
            }
        })
        .collect();
    for (w, caps) in wanted.iter().zip(&planned) {
        tracing::warn!(
            listener = w.name,
            open_file_limit,
            configured = w.caps.max_connections,
            max_connections = caps.max_connections,
            max_connections_per_address = caps.max_per_address,
            "the open-file limit is too low for the configured connection caps: they are lowered \
             (raise the limit, e.g. LimitNOFILE= in a systemd unit, or lower the caps)"
        );
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn tracker(max_connections: usize, max_per_address: usize) -> Arc<ConnectionTracker> {
        ConnectionTracker::new(
            "test",
            ConnectionCaps {
                max_connections,
                max_per_address,
            },
        )
    }

    #[test]
    fn an_ipv6_64_is_one_address() {
        let tracker = tracker(100, 2);
        let held: Vec<_> = (1..=2)
            .map(|i| {
                let a: IpAddr = format!("2001:db8:1:2::{i}").parse().unwrap();
                let c = tracker.admit(a).unwrap();
                let busy = c.request_started();
                (c, busy)
            })
            .collect();
        assert!(tracker
            .admit("2001:db8:1:2:ffff::3".parse().unwrap())
            .is_none());
        assert!(tracker.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        drop(held);
    }

    #[test]
    fn busy_connections_are_never_shed_and_the_cap_holds() {
        let tracker = tracker(2, 2);
        let a = tracker.admit(LOCAL).unwrap();
        let b = tracker.admit(OTHER).unwrap();
        let _busy_a = a.request_started();
        let _busy_b = b.request_started();
        assert!(tracker.admit(OTHER).is_none());
        assert_eq!(tracker.open_connections(), 2);
        drop(a);
        assert!(tracker.admit(OTHER).is_some());
    }

    #[tokio::test]
    async fn the_longest_idle_connection_makes_room() {
        let tracker = tracker(2, 10);
        let first = tracker.admit(LOCAL).unwrap();
        let second = tracker.admit(LOCAL).unwrap();
        // `second` served a request since, so `first` has been idle longer.
        std::thread::sleep(std::time::Duration::from_millis(2));
        drop(second.request_started());
        let third = tracker.admit(OTHER).expect("room made");
        // `first` is told to close; `second` is not.
        assert!(!second.slot.shed_asked.load(Ordering::Acquire));
        tokio::time::timeout(std::time::Duration::from_secs(5), first.shed())
            .await
            .expect("the idle connection is shed");
        drop(first);
        assert_eq!(tracker.open_connections(), 2);
        drop(third);
    }

    #[tokio::test]
    async fn one_address_is_capped_and_makes_room_among_its_own() {
        let tracker = tracker(100, 2);
        let a = tracker.admit(LOCAL).unwrap();
        let b = tracker.admit(LOCAL).unwrap();
        let _busy = (a.request_started(), b.request_started());
        // Both busy: a third from the same address is turned away, another address is not.
        assert!(tracker.admit(LOCAL).is_none());
        let other = tracker.admit(OTHER).unwrap();
        drop(_busy);
        // Now idle: the third makes room among its own address's connections only.
        let _third = tracker.admit(LOCAL).unwrap();
        assert!(!other.slot.shed_asked.load(Ordering::Acquire));
        assert!(
            a.slot.shed_asked.load(Ordering::Acquire) || b.slot.shed_asked.load(Ordering::Acquire)
        );
    }

    #[tokio::test]
    async fn a_connection_that_turned_busy_declines_to_close() {
        let tracker = tracker(1, 1);
        let a = tracker.admit(LOCAL).unwrap();
        let _b = tracker.admit(OTHER).unwrap();
        assert!(a.slot.shed_asked.load(Ordering::Acquire));
        let busy = a.request_started();
        let declined = tokio::time::timeout(std::time::Duration::from_millis(50), a.shed()).await;
        assert!(declined.is_err(), "a busy connection closed");
        assert!(!a.slot.shed_asked.load(Ordering::Acquire));
        drop(busy);
    }

    #[test]
    fn past_the_slack_nothing_more_is_admitted() {
        let tracker = tracker(1, 1000);
        let mut held = vec![tracker.admit(LOCAL).unwrap()];
        // Each new one asks an idle one to close; none closes (their tasks never run here).
        while let Some(c) = tracker.admit(LOCAL) {
            held.push(c);
            assert!(held.len() <= 1 + SHED_SLACK, "the slack was passed");
        }
        assert_eq!(tracker.open_connections(), held.len());
    }

    #[test]
    fn a_busy_answer_keeps_its_connection() {
        let tracker = tracker(1, 1);
        let a = tracker.admit(LOCAL).unwrap();
        let in_flight = a.request_started();
        let body = TrackedBody::new(http_body_util::Empty::<Bytes>::new(), in_flight);
        assert!(tracker.admit(LOCAL).is_none());
        drop(body);
        assert!(tracker.admit(LOCAL).is_some());
    }

    #[test]
    fn caps_fit_the_open_file_limit() {
        let wanted = |server: usize, gateway: usize| {
            [
                Wanted {
                    name: "server",
                    caps: ConnectionCaps {
                        max_connections: server,
                        max_per_address: 256,
                    },
                    descriptors_per_connection: 1,
                },
                Wanted {
                    name: "gateway",
                    caps: ConnectionCaps {
                        max_connections: gateway,
                        max_per_address: 256,
                    },
                    descriptors_per_connection: 2,
                },
            ]
        };
        // Room for all: unchanged.
        let caps = plan_connection_caps(1_000_000, 256, &wanted(4096, 4096));
        assert_eq!(caps[0].max_connections, 4096);
        assert_eq!(caps[1].max_connections, 4096);
        // 1,024 descriptors: lowered, and the total (with slack) fits.
        let caps = plan_connection_caps(1024, 256, &wanted(4096, 4096));
        let used =
            (caps[0].max_connections + SHED_SLACK) + 2 * (caps[1].max_connections + SHED_SLACK);
        assert!(used <= 1024 - 256, "{caps:?}");
        assert!(caps[0].max_connections > 100, "{caps:?}");
        assert!(caps[0].max_per_address <= caps[0].max_connections);
    }
}
