//! What a second factor's check costs on the request that carries it: a
//! TOTP code checked against the three time steps it may belong to (the
//! worst case: a wrong code, three HMAC-SHA1s), and a recovery code's keyed
//! hash. Both are microseconds: they run on the async workers, unlike
//! password hashing.
//!
//! `cargo bench --bench second_factor`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::{
    auth::{
        mac::MacKey,
        mfa::{recovery, totp},
    },
    config::secret::SecretKey,
};

fn checks(c: &mut Criterion) {
    let secret = totp::new_secret();
    c.bench_function("totp_wrong_code", |b| {
        b.iter(|| totp::matched_step(black_box(&secret), black_box("000000"), black_box(1_234_567_890)))
    });
    let key = MacKey::derive(
        &SecretKey::new(b"0123456789abcdef0123456789abcdef-bench".to_vec()),
        b"bench",
    );
    c.bench_function("recovery_code_hash", |b| {
        b.iter(|| recovery::hash(black_box(&key), black_box(7), black_box("abcde-fghij")))
    });
}

criterion_group!(benches, checks);
criterion_main!(benches);
