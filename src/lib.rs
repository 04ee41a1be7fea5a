//! rampart: a secure-by-default HTTP API server.
//!
//! The crate is organised by concern, in layers: a module names only the
//! modules below it, never one above (`tests/layers.rs` holds the code to
//! this line). Bottom to top:
//!
//! Layers: observability, outbound, input, names, config, store, ratelimit, audit, auth, items, realtime, server, http, gateway, state, admin, web, routes, app, scan, cli
//!
//! - `observability`: JSON logs and metric names;
//! - `outbound`: the connector of the HTTP calls rampart makes itself;
//! - `input`: request input read field by field, FastAPI's 422 errors;
//! - `names`: user names and roles, types that hold only valid values;
//! - `config`: settings, their layers and parsing, the secret, findings;
//! - `store`: the database, behind methods that speak domain types;
//! - `ratelimit`: policies, subjects and budgets;
//! - `audit`: the security event trail;
//! - `auth`: passwords, keys, tokens, the user accounts (`users`),
//!   sessions, CSRF tokens, device cookies, and the one road to a password
//!   check (`login`);
//! - `items`: the item rules, the items service and its events;
//! - `realtime`: the open WebSockets, their limits and their lives;
//! - `server`: listeners, TLS, connections, shutdown;
//! - `http`: the middleware stack, the caller's identity, cookies, the
//!   error model;
//! - `gateway`: rampart in front of an existing API: its routes, the
//!   headers that cross, the forwarding;
//! - `state`: the services handlers share;
//! - `admin`: what an admin does, audited, for the admin API and the
//!   console alike;
//! - `web`: the pages;
//! - `routes`: the API handlers and the router;
//! - `app`: the application built from its settings;
//! - `scan`: `rampart scan`, any API probed and checked against these
//!   practices;
//! - `cli`: the command line.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod http;
pub mod input;
pub mod items;
pub mod names;
pub mod observability;
pub mod outbound;
pub mod ratelimit;
pub mod realtime;
pub mod routes;
pub mod scan;
pub mod server;
pub mod state;
pub mod store;
pub mod web;
