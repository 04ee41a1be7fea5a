//! Black-box tests: each starts the real `rampart` binary and speaks HTTP
//! to it, as a client would.

mod helpers;

mod audit;
mod auth;
mod bounds;
mod clock;
mod config;
mod conformance;
mod console_api;
mod console_pages;
mod cors;
mod errors;
mod forward_auth;
mod forward_auth_proxies;
mod gateway;
mod gateway_edges;
mod gateway_upstreams;
mod hardening;
mod hardening_edges;
mod items;
mod lifecycle;
mod middleware;
mod passkeys;
mod rate_limit;
mod routes;
mod scale_out;
mod scan;
mod second_factors;
mod sessions;
mod sso;
mod storage;
mod tls;
mod websocket;
