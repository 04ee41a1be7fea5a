//! rampart: a secure-by-default HTTP API server.
//!
//! The crate is organised by concern: `config` reads and judges settings,
//! `auth` holds passwords, keys, tokens and accounts, `items` the item
//! rules, `audit` the security event trail,
//! `server` owns listeners and shutdown, `http` the middleware stack and
//! error model, `routes` the handlers, `store` the database,
//! `observability` logs and metrics, `cli` the command line.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod items;
pub mod observability;
pub mod ratelimit;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;
pub mod web;
