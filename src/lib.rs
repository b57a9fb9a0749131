//! atlascope: MITRE ATLAS coverage mapping for ML systems.
//!
//! - [`atlas`]: the ATLAS knowledge base (framework data, read-only);
//! - [`core`]: what every entry point opens (database, releases, caches, live hub);
//! - [`db`]: the SQLite database layer;
//! - [`releases`]: importing and loading releases (shared by CLI, pages, API);
//! - [`web`]: HTML pages; [`api`]: the JSON REST API;
//! - [`app`]: state, router and server; [`cli`]: the command line, and
//!   [`client`]: its client of a server's API.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod atlas;
pub mod auth;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod core;
pub mod db;
pub mod domain;
pub mod live;
pub mod releases;
pub mod reports;
pub mod server;
pub mod service;
pub mod sigma;
pub mod telemetry;
pub mod web;
