//! Hybrid logical clock: strictly monotonic whatever the wall clock does, never behind
//! physical time, ahead of every accepted remote timestamp, and refusing remote timestamps
//! too far in the future without moving.

use argus_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcError, HlcTimestamp, MAX_WALL_MS};
use proptest::prelude::*;

const T0: u64 = 1_764_000_000_000;

#[test]
fn packs_wall_and_counter() {
    let t = HlcTimestamp::new(T0, 7);
    assert_eq!((t.wall_ms(), t.counter()), (T0, 7));
    assert!(HlcTimestamp::new(T0, u16::MAX) < HlcTimestamp::new(T0 + 1, 0));
    assert_eq!(HlcTimestamp::new(u64::MAX, 0).wall_ms(), MAX_WALL_MS);
    assert_eq!(t.to_be_bytes(), ((T0 << 16) | 7).to_be_bytes());
}

#[test]
fn local_events_are_monotonic_when_the_wall_clock_steps_back() {
    let mut c = Hlc::new(DEFAULT_MAX_DRIFT_MS);
    let a = c.now(T0);
    assert_eq!(a, HlcTimestamp::new(T0, 0));
    let b = c.now(T0 - 5_000); // NTP stepped the clock back 5 s
    assert_eq!(b, HlcTimestamp::new(T0, 1));
    let d = c.now(T0);
    assert_eq!(d, HlcTimestamp::new(T0, 2));
    let e = c.now(T0 + 1);
    assert_eq!(e, HlcTimestamp::new(T0 + 1, 0));
}

#[test]
fn counter_overflow_borrows_a_millisecond() {
    let mut c = Hlc::new(DEFAULT_MAX_DRIFT_MS);
    let mut prev = c.now(T0);
    for _ in 0..70_000 {
        let next = c.now(T0);
        assert!(next > prev);
        prev = next;
    }
    assert_eq!(prev.wall_ms(), T0 + 1);
    assert_eq!(u64::from(prev.counter()), 70_000 - 65_536);
}

#[test]
fn remote_timestamps_move_the_clock_forward() {
    let mut c = Hlc::new(DEFAULT_MAX_DRIFT_MS);
    c.now(T0);
    let remote = HlcTimestamp::new(T0 + 2_000, 5); // a peer 2 s ahead: tolerated
    let t = c.update(remote, T0).unwrap();
    assert_eq!(t, HlcTimestamp::new(T0 + 2_000, 6));
    assert_eq!(c.now(T0 + 10), HlcTimestamp::new(T0 + 2_000, 7));
    // An older remote timestamp does not pull it back.
    assert_eq!(c.update(HlcTimestamp::new(T0, 0), T0 + 20).unwrap(), HlcTimestamp::new(T0 + 2_000, 8));
}

#[test]
fn remote_timestamps_too_far_ahead_are_refused_and_change_nothing() {
    let mut c = Hlc::new(1_000);
    let before = c.now(T0);
    let at_bound = HlcTimestamp::new(T0 + 1_000, 0);
    let beyond = HlcTimestamp::new(T0 + 1_001, 0);
    assert_eq!(
        c.update(beyond, T0),
        Err(HlcError::TooFarInFuture { remote_wall_ms: T0 + 1_001, physical_ms: T0, max_drift_ms: 1_000 })
    );
    assert_eq!(c.last(), before);
    assert!(c.check(at_bound, T0).is_ok());
    assert_eq!(c.update(at_bound, T0).unwrap(), HlcTimestamp::new(T0 + 1_000, 1));
    assert!(c.update(HlcTimestamp::MAX, T0).is_err());
}

#[test]
fn resumed_clock_never_goes_below_what_it_issued() {
    let persisted = HlcTimestamp::new(T0 + 60_000, 3);
    let mut c = Hlc::resume(persisted, DEFAULT_MAX_DRIFT_MS);
    assert_eq!(c.now(T0), HlcTimestamp::new(T0 + 60_000, 4));
}

#[test]
fn saturates_instead_of_wrapping() {
    let mut c = Hlc::resume(HlcTimestamp::MAX, DEFAULT_MAX_DRIFT_MS);
    assert_eq!(c.now(T0), HlcTimestamp::MAX);
}

#[derive(Debug, Clone)]
enum Event {
    Local { step_ms: i64 },
    Remote { step_ms: i64, remote_ahead_ms: i64, counter: u16 },
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    let ev = prop_oneof![
        (-3_000i64..3_000).prop_map(|step_ms| Event::Local { step_ms }),
        (-3_000i64..3_000, -100_000i64..100_000, any::<u16>()).prop_map(
            |(step_ms, remote_ahead_ms, counter)| Event::Remote { step_ms, remote_ahead_ms, counter }
        ),
    ];
    prop::collection::vec(ev, 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn clock_invariants_hold_under_skew(evs in events(), drift in 0u64..50_000) {
        let mut c = Hlc::new(drift);
        let mut physical = T0;
        let mut prev = HlcTimestamp::ZERO;
        let mut max_wall_seen = 0u64;
        for ev in evs {
            let step = match &ev { Event::Local { step_ms } | Event::Remote { step_ms, .. } => *step_ms };
            physical = physical.saturating_add_signed(step);
            max_wall_seen = max_wall_seen.max(physical);
            let issued = match ev {
                Event::Local { .. } => c.now(physical),
                Event::Remote { remote_ahead_ms, counter, .. } => {
                    let remote = HlcTimestamp::new(physical.saturating_add_signed(remote_ahead_ms), counter);
                    let too_far = remote.wall_ms() > physical + drift;
                    match c.update(remote, physical) {
                        Ok(t) => {
                            prop_assert!(!too_far);
                            prop_assert!(t > remote);
                            max_wall_seen = max_wall_seen.max(remote.wall_ms());
                            t
                        }
                        Err(_) => {
                            prop_assert!(too_far);
                            prop_assert_eq!(c.last(), prev);
                            continue;
                        }
                    }
                }
            };
            prop_assert!(issued > prev, "not monotonic");
            prop_assert!(issued.wall_ms() >= physical, "behind physical time");
            // With under 200 events our own counter never overflows; a remote counter at
            // u16::MAX can make its successor borrow one millisecond, never more.
            prop_assert!(issued.wall_ms() <= max_wall_seen + 1);
            prev = issued;
        }
    }
}
