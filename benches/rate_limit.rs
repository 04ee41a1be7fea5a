//! Nanoseconds per rate-limit check in memory: one subject spending its
//! budget again and again (the common case), and a new subject every time
//! (a flood of fresh addresses against a full map). The first line is the
//! runtime's own cost per `block_on`, to subtract.
//!
//! `cargo bench --bench rate_limit`

use std::{net::IpAddr, num::NonZeroUsize};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::{
    config::RateLimitSettings,
    ratelimit::{PolicyName, RateLimits, Subject},
};

fn check(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let settings = RateLimitSettings {
        default: "1000000000/second".parse().unwrap(),
        max_tracked_keys: NonZeroUsize::new(100_000).unwrap(),
        ..RateLimitSettings::default()
    };
    let limits = RateLimits::new(&settings, &[]);

    // What the runtime adds to every measurement below.
    c.bench_function("baseline: block_on a ready future", |b| {
        b.iter(|| runtime.block_on(std::future::ready(std::hint::black_box(1))))
    });
    let client = Subject::ip("192.0.2.1".parse().unwrap());
    c.bench_function("check, one client", |b| {
        b.iter(|| runtime.block_on(limits.check(PolicyName::Default, client)))
    });
    c.bench_function("check, one user", |b| {
        b.iter(|| runtime.block_on(limits.check(PolicyName::Default, Subject::name("alice"))))
    });
    let mut n = 0u32;
    c.bench_function("check, a new client each time", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let ip = IpAddr::from(n.to_be_bytes());
            runtime.block_on(limits.check(PolicyName::Default, Subject::ip(ip)))
        })
    });
}

criterion_group!(benches, check);
criterion_main!(benches);
