//! What reading a JSON body costs by its shape: 1 MiB of 100,000 keys the
//! model does not know, 1 MiB of keys sent as pairs (a form or a query), and
//! 1 MiB held in one string. Reading is linear in the size (SPEC section
//! 11), so the three stay within a small factor of each other.
//!
//! `cargo bench --bench input`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart::input::{Fields, Model, Source, bounded_text, read_json, read_pairs};

/// A model of two text fields, as `POST /users` reads.
struct TwoFields;

impl Model for TwoFields {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let username = fields.required("username", |raw| bounded_text(raw, 3, 32));
        let password = fields.required("password", |raw| bounded_text(raw, 8, 2_000_000));
        username?;
        password?;
        Some(Self)
    }
}

const MIB: usize = 1 << 20;

/// `{"0":0,"1":0,...}`, keys in hexadecimal, up to 1 MiB.
fn many_keys() -> Vec<u8> {
    let mut body = String::from("{");
    let mut key = 0u32;
    while body.len() < MIB - 16 {
        if key > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"{key:x}\":0"));
        key += 1;
    }
    body.push('}');
    body.into_bytes()
}

/// `0=0&1=0&...&0=0&1=0...`: each name sent several times, up to 1 MiB.
fn many_pairs() -> Vec<u8> {
    let mut body = String::new();
    let mut key = 0u32;
    while body.len() < MIB - 16 {
        if key > 0 {
            body.push('&');
        }
        body.push_str(&format!("{:x}=0", key % 20_000));
        key += 1;
    }
    body.into_bytes()
}

/// One string of 1 MiB, and the other field.
fn one_string() -> Vec<u8> {
    let password = "a".repeat(MIB - 64);
    format!("{{\"username\":\"alice\",\"password\":\"{password}\"}}").into_bytes()
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read a 1 MiB body");
    group.sample_size(20);
    let keys = many_keys();
    group.bench_function("JSON, 100,000 unknown keys", |b| {
        b.iter(|| {
            read_json::<TwoFields>(black_box(&keys))
                .err()
                .map(|issues| issues.len())
        })
    });
    let pairs = many_pairs();
    group.bench_function("pairs, 20,000 unknown names sent often", |b| {
        b.iter(|| {
            read_pairs::<TwoFields>(black_box(&pairs), Source::Body)
                .err()
                .map(|issues| issues.len())
        })
    });
    let string = one_string();
    group.bench_function("JSON, one string", |b| {
        b.iter(|| read_json::<TwoFields>(black_box(&string)).is_ok())
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
