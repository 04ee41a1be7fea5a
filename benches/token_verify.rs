//! Microseconds per access-token verification, per algorithm: the
//! signature and claim checks, and the whole `TokenService::verify` a
//! request runs (verified-token cache, expiry, revocation and user state),
//! against a real SQLite store.
//!
//! `cargo bench --bench token_verify`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::{
    auth::{invalidation::Invalidations, keyring::KeyRing, keys::KeySealer, tokens::TokenService},
    config::{AuthSettings, SigningAlgorithm, secret::SecretKey},
    store::Store,
};

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::ES256,
        SigningAlgorithm::RS256,
        SigningAlgorithm::HS256,
    ] {
        let settings = AuthSettings {
            algorithm,
            ..AuthSettings::default()
        };
        let db = dir.path().join(format!("{algorithm:?}.db"));
        let tokens = runtime.block_on(async {
            let store = Store::connect(&format!("sqlite://{}", db.display()).parse().unwrap())
                .await
                .unwrap();
            let secret = SecretKey::generate();
            let keys = KeyRing::open(store.clone(), KeySealer::new(&secret), &settings)
                .await
                .unwrap();
            let invalidations = Invalidations::load(store).await.unwrap();
            Arc::new(TokenService::new(keys, invalidations, &settings))
        });
        let (token, _) = tokens
            .issue(
                "alice",
                &["user".to_owned()],
                0,
                rampart::auth::amr::Amr::PASSWORD,
            )
            .unwrap();
        c.bench_function(&format!("verify {algorithm:?} (signature and claims)"), |b| {
            b.to_async(&runtime).iter(|| {
                let tokens = tokens.clone();
                let token = token.clone();
                async move { tokens.verify_signed(&token).await.unwrap() }
            })
        });
        c.bench_function(
            &format!("verify {algorithm:?} (as a request does, token seen before)"),
            |b| {
                b.to_async(&runtime).iter(|| {
                    let tokens = tokens.clone();
                    let token = token.clone();
                    async move { tokens.verify(&token).await.unwrap() }
                })
            },
        );
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
