//! What a second factor's check costs on the request that carries it: a
//! TOTP code checked against the three time steps it may belong to (the
//! worst case: a wrong code, three HMAC-SHA1s), and a recovery code's keyed
//! hash. Both are microseconds: they run on the async workers, unlike
//! password hashing. And a passkey's assertion checked by webauthn-rs (an
//! ES256 signature, the client data and the authenticator data), as the
//! second step and the passwordless sign-in check it.
//!
//! `cargo bench --bench second_factor`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rampart::{
    auth::{
        mac::MacKey,
        mfa::{recovery, totp},
    },
    config::secret::SecretKey,
};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{Url, Uuid, WebauthnBuilder};

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

fn passkey_assertion(c: &mut Criterion) {
    let origin = Url::parse("https://rampart.example").unwrap();
    let webauthn = WebauthnBuilder::new("rampart.example", &origin)
        .unwrap()
        .build()
        .unwrap();
    let mut key = SoftPasskey::new(true);
    let (options, registration) = webauthn
        .start_passkey_registration(Uuid::new_v4(), "alice", "alice", None)
        .unwrap();
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let passkey = webauthn
        .finish_passkey_registration(&credential, &registration)
        .unwrap();
    c.bench_function("passkey_assertion", |b| {
        b.iter_batched(
            || {
                let (options, state) = webauthn
                    .start_passkey_authentication(std::slice::from_ref(&passkey))
                    .unwrap();
                (key.do_authentication(origin.clone(), options).unwrap(), state)
            },
            |(assertion, state)| {
                webauthn
                    .finish_passkey_authentication(&assertion, &state)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, checks, passkey_assertion);
criterion_main!(benches);
